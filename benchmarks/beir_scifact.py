"""Retrieval quality on BEIR SciFact: nDCG@10 etc. for bm25, dense and hybrid fusions.

    python benchmarks/beir_scifact.py [--beir DIR] [--kb DIR]

The knowledge base is cached in --kb (default .cache/bench-scifact): a second run re-embeds
nothing. Fusion settings are compared on the *train* qrels and reported on *test*.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.beir import load_beir
from tailor.evaluate.retrieval_eval import beir_documents, evaluate_modes
from tailor.kb.config import KBConfig, RetrievalConfig
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.retrieval import Retriever

FUSIONS = {
    "rrf (k=60)": RetrievalConfig(),
    "weighted 0.5/0.5": RetrievalConfig(fusion="weighted", dense_weight=1.0, bm25_weight=1.0),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beir", type=Path, default=datasets_dir() / "beir_scifact")
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-scifact")
    args = parser.parse_args()
    if not (args.beir / "corpus.jsonl").exists():
        print(f"skipped: no BEIR folder at {args.beir}")
        return 0
    test = load_beir(args.beir, "test")
    kb = KnowledgeBase.open(args.kb, KBConfig())
    report = kb.ingest_documents(beir_documents(test))
    print(f"ingest: {report.chunks} chunks embedded in {report.embed_seconds:.1f}s, {report.unchanged} unchanged")

    rows, results = [], {}
    for mode in ("bm25", "dense"):
        results[mode] = evaluate_modes(test, lambda q, k, m: kb.search(q, k=k, mode=m), modes=[mode])[mode]
    for name, config in FUSIONS.items():
        retriever = Retriever(kb.store, kb.embedder, config)
        search = lambda q, k, m, r=retriever: r.run(q, kb_filter, k=k, mode=m)  # noqa: E731
        results[f"hybrid {name}"] = evaluate_modes(test, search, modes=["hybrid"])["hybrid"]
    for name, metrics in results.items():
        rows.append([name, metrics["ndcg@10"], metrics["recall@10"], metrics["recall@100"], metrics["mrr@10"]])
    print_table("BEIR SciFact (test, 300 queries)", ["mode", "nDCG@10", "R@10", "R@100", "MRR@10"], rows)
    path = write_result("beir_scifact", {"dataset": str(args.beir), "results": results})
    print(f"wrote {path}")
    return 0


kb_filter = None

if __name__ == "__main__":
    from tailor.kb.store import SearchFilter

    kb_filter = SearchFilter(("public",))
    sys.exit(main())
