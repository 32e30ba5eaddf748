"""The embedded store against Milvus Lite on the same synthetic corpus, side by side in one run.

    python benchmarks/milvus_vs_local.py [--chunks 100000] [--queries 200] [--milvus-options index=HNSW]

Vectors are given (384-d, clustered like sentence embeddings) and texts are Zipf pseudo-words, as in
retrieval_latency.py: **embedding is excluded** from ingest and from queries. Ingest is one commit of
every chunk until searchable (the local store builds its BM25/dense index, Milvus Lite flushes and
indexes its segment). A hybrid query is the real Retriever (dense 100 + BM25 100, weighted fusion, chunk
fetch) as group `public`, which sees two thirds of the chunks; Milvus's native `hybrid_search` with
RRF is timed beside it. Recall@10 compares Milvus's ANN with an exact scan under the same filter.

    python benchmarks/milvus_vs_local.py --scifact

compares hybrid quality instead (nDCG@10 on BEIR SciFact): our fusion over Milvus's dense and BM25
lists against Milvus's own hybrid_search rankers (docs/decisions/0004-milvus-backend.md).
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import numpy as np
from _common import REPO, datasets_dir, print_table, write_result
from retrieval_latency import CHUNKS_PER_DOC, DIM, VOCAB, WORDS_PER_CHUNK, pseudo_words

from tailor.kb.config import RetrievalConfig
from tailor.kb.knowledge_base import open_store
from tailor.kb.retrieval import Retriever
from tailor.kb.store import DocumentWrite, SearchFilter, StoredDocument
from tailor.records import Chunk

PUBLIC = SearchFilter(("public",))


def corpus(n_chunks: int) -> tuple[list[DocumentWrite], np.ndarray, np.ndarray]:
    """Writes, all vectors in order, and a public-visibility mask; three group patterns as in retrieval_latency."""
    rng = np.random.default_rng(0)
    vocab = pseudo_words(rng, VOCAB)
    zipf = 1.0 / np.arange(1, VOCAB + 1)
    zipf /= zipf.sum()
    centers = rng.normal(size=(max(n_chunks // 500, 10), DIM)).astype(np.float32)
    writes, public = [], []
    for d in range(n_chunks // CHUNKS_PER_DOC):
        doc_id = f"doc{d:07d}"
        groups = ("hr",) if d % 3 == 0 else ("public", "finance") if d % 3 == 1 else ("public",)
        vectors = centers[rng.integers(0, len(centers), CHUNKS_PER_DOC)]
        vectors = vectors + 0.6 * rng.normal(size=vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [" ".join(w) for w in vocab[rng.choice(VOCAB, size=(CHUNKS_PER_DOC, WORDS_PER_CHUNK), p=zipf)]]
        chunks = [Chunk(f"{doc_id}#{i}", doc_id, t, 0, len(t)) for i, t in enumerate(texts)]
        writes.append(DocumentWrite(StoredDocument(doc_id, doc_id, doc_id, doc_id, groups, {}, ""), chunks, texts,
                                    vectors))
        public += [d % 3 != 0] * CHUNKS_PER_DOC
    return writes, np.concatenate([w.vectors for w in writes]), np.array(public)


class GivenVectors:
    """An embedder stub: queries come with their vectors, so timings exclude embedding."""

    def __init__(self, vectors: dict[str, np.ndarray]):
        self.vectors = vectors

    def embed_query(self, text: str) -> np.ndarray:
        return self.vectors[text]


def ingest(uri: str, writes: list[DocumentWrite]) -> tuple[object, float]:
    store = open_store(uri)
    store.set_meta("dim", str(DIM))
    started = time.perf_counter()
    store.commit(writes, [], note="benchmark")
    store.dense_search(writes[0].vectors[0], 1, PUBLIC)  # the local store builds its index on first use
    return store, time.perf_counter() - started


def percentiles(values: list[float]) -> tuple[float, float]:
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def hybrid_latency(store: object, queries: dict[str, np.ndarray]) -> tuple[float, float]:
    retriever = Retriever(store, GivenVectors(queries), RetrievalConfig())  # type: ignore[arg-type]
    retriever.run(next(iter(queries)), PUBLIC, k=10)  # warm up
    times = []
    for text in queries:
        started = time.perf_counter()
        retriever.run(text, PUBLIC, k=10, mode="hybrid")
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def native_hybrid_latency(store: object, queries: dict[str, np.ndarray]) -> tuple[float, float]:
    """Milvus's own hybrid_search (RRF over the dense and BM25 requests), one round trip."""
    from pymilvus import AnnSearchRequest, RRFRanker

    from tailor.kb.local_index import bm25_tokenize

    times = []
    for text, vector in queries.items():
        started = time.perf_counter()
        expr = store._filter(PUBLIC, store.version())  # noqa: SLF001 - what the store puts in every search
        requests = [
            AnnSearchRequest([vector.tolist()], "vector", {"metric_type": "IP", "params": store.settings.search_params},
                             100, expr=expr),
            AnnSearchRequest([" ".join(bm25_tokenize([text])[0])], "sparse", {"metric_type": "BM25"}, 100, expr=expr),
        ]
        store.client.hybrid_search(store._chunks, requests, RRFRanker(60), limit=10, output_fields=["key"])  # noqa: SLF001
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def ann_recall(store: object, vectors: np.ndarray, public: np.ndarray, ids: list[str], n: int) -> dict[str, float]:
    """Recall@10 of the store's dense search against an exact scan, unfiltered and as `public`."""
    rng = np.random.default_rng(2)
    recall = {}
    for name, search_filter, mask in (("all", SearchFilter(None), None), ("public", PUBLIC, public)):
        found = []
        for _ in range(n):
            query = vectors[rng.integers(len(vectors))] + 0.3 * rng.normal(size=DIM).astype(np.float32)
            query /= np.linalg.norm(query)
            scores = vectors @ query
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            exact = {ids[i] for i in np.argsort(-scores)[:10]}
            found.append(len(exact & {m.chunk_id for m in store.dense_search(query, 10, search_filter)}) / 10)
        recall[name] = float(np.mean(found))
    return recall


def native_search(store: object, embed: dict[str, np.ndarray], ranker: object) -> object:
    """A search function (query, k, mode) -> SearchResult over Milvus's own hybrid_search and `ranker`."""
    from pymilvus import AnnSearchRequest

    from tailor.kb.local_index import bm25_tokenize
    from tailor.records import Hit, SearchResult

    def search(query: str, k: int, mode: str) -> SearchResult:
        expr = store._filter(PUBLIC, store.version())  # noqa: SLF001
        params = {"metric_type": "IP", "params": {"ef": max(k, 256)}}
        requests = [AnnSearchRequest([embed[query].tolist()], "vector", params, k, expr=expr),
                    AnnSearchRequest([" ".join(bm25_tokenize([query])[0])], "sparse", {"metric_type": "BM25"}, k,
                                     expr=expr)]
        (hits,) = store.client.hybrid_search(store._chunks, requests, ranker, limit=k, output_fields=["doc_id"])  # noqa: SLF001
        return SearchResult(query, [Hit(Chunk(h["key"], h["doc_id"], "", 0, 0), h["distance"], "", "") for h in hits])

    return search


def fusion_quality(scifact_kb: Path) -> None:
    """nDCG@10 on BEIR SciFact test (300 queries): our fusion over Milvus's two lists, or Milvus's rankers.

    Needs the knowledge base benchmarks/beir_scifact.py builds; it is copied (vectors reused) to Milvus Lite.
    """
    from pymilvus import RRFRanker, WeightedRanker

    from tailor.evaluate.beir import load_beir
    from tailor.evaluate.retrieval_eval import evaluate_modes
    from tailor.kb.copy import copy_store
    from tailor.kb.knowledge_base import KnowledgeBase

    lite = REPO / ".cache" / "bench-scifact.db"
    if not lite.exists():
        report = copy_store(str(scifact_kb), str(lite), queries=50)
        print(f"copied {report.chunks} chunks in {report.seconds:.0f}s; top-10 overlap dense "
              f"{report.dense_overlap:.3f}, bm25 {report.text_overlap:.3f}")
    dataset = load_beir(datasets_dir() / "beir_scifact", "test")
    local = KnowledgeBase.open(scifact_kb)
    milvus = KnowledgeBase.open(str(lite), embedder=local.embedder)
    embed = {text: local.embedder.embed_query(text) for text in dataset.queries.values()}
    ours = {fusion: Retriever(milvus.store, GivenVectors(embed), RetrievalConfig(fusion=fusion))  # type: ignore[arg-type]
            for fusion in ("weighted", "rrf")}
    methods = {
        "embedded store, weighted fusion (shipped)": lambda q, k, m: local.search(q, k=k, mode="hybrid"),
        "Milvus lists, our weighted fusion": lambda q, k, m: ours["weighted"].run(q, PUBLIC, k=k),
        "Milvus lists, our RRF (k=60)": lambda q, k, m: ours["rrf"].run(q, PUBLIC, k=k),
        "Milvus hybrid_search, RRFRanker(60)": native_search(milvus.store, embed, RRFRanker(60)),
        "Milvus hybrid_search, WeightedRanker(0.5, 0.5)": native_search(milvus.store, embed, WeightedRanker(0.5, 0.5)),
    }
    rows, results = [], {}
    for name, search in methods.items():
        started = time.perf_counter()
        metrics = evaluate_modes(dataset, search, modes=["hybrid"])["hybrid"]
        results[name] = {"ndcg@10": metrics["ndcg@10"], "recall@100": metrics["recall@100"]}
        rows.append([name, metrics["ndcg@10"], metrics["recall@100"], time.perf_counter() - started])
    print_table("Hybrid fusion on BEIR SciFact test, Milvus Lite", ["method", "nDCG@10", "R@100", "seconds"], rows)
    print(f"wrote {write_result('milvus_fusion_scifact', {'results': results})}")
    local.close()
    milvus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--recall-queries", type=int, default=100)
    parser.add_argument("--milvus-options", default="", help="URI options, e.g. index=HNSW&ef=64")
    parser.add_argument("--scifact", action="store_true", help="Compare hybrid fusions on SciFact instead")
    args = parser.parse_args()
    if args.scifact:
        fusion_quality(REPO / ".cache" / "bench-scifact")
        return
    started = time.perf_counter()
    writes, vectors, public = corpus(args.chunks)
    ids = [c.id for w in writes for c in w.chunks]
    print(f"corpus: {len(ids)} chunks in {time.perf_counter() - started:.0f}s")
    rng = np.random.default_rng(1)
    vocab = pseudo_words(np.random.default_rng(0), VOCAB)
    queries = {}
    while len(queries) < args.queries:
        query = vectors[rng.integers(len(vectors))] + 0.3 * rng.normal(size=DIM).astype(np.float32)
        queries[" ".join(rng.choice(vocab[:5000], size=6))] = query / np.linalg.norm(query)

    folder = REPO / ".cache" / "bench-milvus-vs-local"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    uris = {"local": str(folder / "local"), "milvus-lite": f"{folder / 'milvus.db'}?{args.milvus_options}"}
    results, rows = {}, []
    for name, uri in uris.items():
        store, seconds = ingest(uri, writes)
        print(f"{name}: ingested in {seconds:.1f}s")
        result = {"ingest_s": seconds, "ingest_chunks_per_s": len(ids) / seconds}
        result["hybrid_p50_ms"], result["hybrid_p95_ms"] = hybrid_latency(store, queries)
        if name == "milvus-lite":
            result["native_rrf_p50_ms"], result["native_rrf_p95_ms"] = native_hybrid_latency(store, queries)
            result["recall_at_10"] = ann_recall(store, vectors, public, ids, args.recall_queries)
            result["index"] = {"type": store.settings.index_type, "build": store.settings.index_params,
                               "search": store.settings.search_params}
        store.close()
        results[name] = result
        recall = result.get("recall_at_10", {})
        rows.append([name, result["ingest_chunks_per_s"], result["hybrid_p50_ms"], result["hybrid_p95_ms"],
                     result.get("native_rrf_p50_ms", "-"), recall.get("all", "exact"), recall.get("public", "exact")])
    print_table(
        f"Embedded store vs Milvus Lite, {len(ids)} chunks (embedding excluded)",
        ["store", "ingest chunks/s", "hybrid p50 ms", "hybrid p95 ms", "native RRF p50 ms", "recall@10",
         "recall@10 public"],
        rows,
    )
    payload = {"chunks": len(ids), "queries": args.queries, "embedding": "excluded", "results": results}
    print(f"wrote {write_result('milvus_vs_local', payload)}")


if __name__ == "__main__":
    main()
