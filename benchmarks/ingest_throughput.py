"""Ingest throughput end to end (load, chunk, embed, commit, index) against embedding alone.

    python benchmarks/ingest_throughput.py [--beir DIR] [--scifact-docs 1000]

The overhead share is measured inside one ingest run (time outside the embedding calls over the whole
run: loading, chunking, commit, index build), so it holds when the machine's speed drifts; embedding
the same texts again on their own is printed beside it as a cross-check.
Target: everything but embedding costs at most 10% of the end-to-end time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.beir import load_beir
from tailor.evaluate.retrieval_eval import beir_documents
from tailor.kb.chunking import contextualize
from tailor.kb.embedding import SentenceTransformerEmbedder
from tailor.kb.knowledge_base import KnowledgeBase


def measure(name: str, embedder: SentenceTransformerEmbedder, ingest) -> dict:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as folder:
        kb = KnowledgeBase.open(Path(folder) / "kb", embedder=embedder)
        started = time.perf_counter()
        report = ingest(kb)
        total = time.perf_counter() - started
        chunks = [(doc.title, c) for doc in kb.documents(groups=None) for c in _chunks(kb, doc.id)]
        texts = [contextualize(c, title) for title, c in chunks]
        started = time.perf_counter()
        embedder.embed_documents(texts)
        embed_alone = time.perf_counter() - started
        kb.close()
    return {
        "corpus": name,
        "chunks": report.chunks,
        "end_to_end_s": total,
        "embed_alone_s": embed_alone,
        "end_to_end_chunks_per_s": report.chunks / total,
        "embed_alone_chunks_per_s": report.chunks / embed_alone,
        "overhead_share": (total - report.embed_seconds) / total,
    }


def _chunks(kb: KnowledgeBase, doc_id: str) -> list:
    ids = [f"{doc_id}#{i}" for i in range(kb.store.get_document(doc_id).n_chunks)]
    found = kb.store.get_chunks(ids)
    return [found[i][0] for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--handbook", type=Path, default=REPO / "examples" / "handbook" / "docs")
    parser.add_argument("--beir", type=Path, default=datasets_dir() / "beir_scifact")
    parser.add_argument("--scifact-docs", type=int, default=1000)
    args = parser.parse_args()
    embedder = SentenceTransformerEmbedder()
    embedder.embed_documents(["warm up the model"] * 8)
    results = [measure("handbook", embedder, lambda kb: kb.ingest([args.handbook]))]
    if (args.beir / "corpus.jsonl").exists():
        documents = beir_documents(load_beir(args.beir, "test"))[: args.scifact_docs]
        results.append(measure(f"scifact[:{args.scifact_docs}]", embedder, lambda kb: kb.ingest_documents(documents)))
    else:
        print(f"skipped SciFact: no BEIR folder at {args.beir}")
    print_table(
        "Ingest throughput (chunks/s)",
        ["corpus", "chunks", "end-to-end", "embedding alone", "overhead share (target <= 0.10)"],
        [[r["corpus"], r["chunks"], r["end_to_end_chunks_per_s"], r["embed_alone_chunks_per_s"], r["overhead_share"]]
         for r in results],
    )
    print(f"wrote {write_result('ingest_throughput', {'results': results})}")


if __name__ == "__main__":
    main()
