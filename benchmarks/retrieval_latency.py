"""Latency of a whole hybrid query (query embedding included) on synthetic 100k and 1M chunk indexes.

    python benchmarks/retrieval_latency.py [--sizes 100000 1000000] [--queries 200]

Vectors are 384-d, clustered like real sentence embeddings; texts are Zipf-distributed pseudo-words,
so BM25 posting lists have realistic skew. Three access groups; queries run as `public`, which sees
two thirds of the chunks. The index is built once per size under .cache/ and reused.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import REPO, print_table, write_result

from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.local_store import LocalStore
from tailor.kb.store import DocumentWrite, StoredDocument
from tailor.records import Chunk

DIM = 384
CHUNKS_PER_DOC = 10
VOCAB = 30_000
WORDS_PER_CHUNK = 60


HANDBOOK_QUESTIONS = REPO / "examples" / "handbook" / "questions.jsonl"


def pseudo_words(rng: np.random.Generator, n: int) -> np.ndarray:
    syllables = np.array(["ka", "lo", "mi", "ne", "ru", "ta", "vi", "so", "pe", "da", "gu", "fo"])
    parts = rng.integers(0, len(syllables), size=(n, 4))
    return np.array(["".join(syllables[p]) + str(i % 7) for i, p in enumerate(parts)])


def build(folder: Path, n_chunks: int) -> None:
    rng = np.random.default_rng(0)
    vocab = pseudo_words(rng, VOCAB)
    zipf = 1.0 / np.arange(1, VOCAB + 1)
    zipf /= zipf.sum()
    centers = rng.normal(size=(max(n_chunks // 500, 10), DIM)).astype(np.float32)
    store = LocalStore(folder)
    store.set_meta("dim", str(DIM))
    writes = []
    for d in range(n_chunks // CHUNKS_PER_DOC):
        doc_id = f"doc{d:07d}"
        groups = ("public",) if d % 3 else ("hr",)
        if d % 3 == 1:
            groups = ("public", "finance")
        vectors = centers[rng.integers(0, len(centers), CHUNKS_PER_DOC)]
        vectors = vectors + 0.6 * rng.normal(size=vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        words = vocab[rng.choice(VOCAB, size=(CHUNKS_PER_DOC, WORDS_PER_CHUNK), p=zipf)]
        texts = [" ".join(w) for w in words]
        chunks = [Chunk(f"{doc_id}#{i}", doc_id, t, 0, len(t)) for i, t in enumerate(texts)]
        doc = StoredDocument(doc_id, doc_id, doc_id, doc_id, groups, {}, "")
        writes.append(DocumentWrite(doc, chunks, texts, vectors))
    store.commit(writes, [], note="synthetic")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    vocab = pseudo_words(np.random.default_rng(0), VOCAB)
    # Real question text for the embedder (the handbook's own questions; synthetic pseudo-words tokenise
    # into many word pieces and were measured to embed ~10x slower than English), plus three frequent
    # synthetic terms so that BM25 walks realistic posting lists of the synthetic index.
    english = [json.loads(line)["question"] for line in HANDBOOK_QUESTIONS.read_text().splitlines() if line]
    queries = [f"{english[i % len(english)]} {' '.join(rng.choice(vocab[:5000], size=3))}"
               for i in range(args.queries)]
    rows, results = [], {}
    for size in args.sizes:
        folder = REPO / ".cache" / f"bench-latency-{size}"
        if not (folder / "kb.sqlite").exists():
            started = time.perf_counter()
            build(folder, size)
            print(f"built {size} chunks in {time.perf_counter() - started:.0f}s")
        kb = KnowledgeBase.open(folder)
        kb.store.set_meta("embedder", kb.embedder.name)
        started = time.perf_counter()
        kb.search("warm up", k=10)
        print(f"{size}: index loaded in {time.perf_counter() - started:.1f}s")
        for query in queries[:20]:  # warm the embedder and the caches: the first searches of a process are slower
            kb.search(f"{query} warm", k=10, mode="hybrid", groups=["public"])
        stages: dict[str, list[float]] = {}
        for query in queries:
            result = kb.search(query, k=10, mode="hybrid", groups=["public"])
            for stage, ms in result.timings_ms.items():
                stages.setdefault(stage, []).append(ms)
        summary = {s: {"p50": float(np.percentile(v, 50)), "p95": float(np.percentile(v, 95))} for s, v in stages.items()}
        results[str(size)] = summary
        total = summary["total_ms"]
        rows.append([size, total["p50"], total["p95"], summary["embed_ms"]["p50"], summary["dense_ms"]["p50"],
                     summary["bm25_ms"]["p50"], total["p95"] / total["p50"]])
        kb.close()
    print_table(
        "Hybrid query latency (ms), query embedding included",
        ["chunks", "total p50", "total p95", "embed p50", "dense p50", "bm25 p50", "p95/p50"],
        rows,
    )
    print(f"wrote {write_result('retrieval_latency', {'queries': args.queries, 'results': results})}")


if __name__ == "__main__":
    main()
