"""Retrieval quality on BEIR SciFact: nDCG@10, Recall@10/100, MRR@10 for bm25, dense and hybrid.

    python benchmarks/beir_scifact.py [--beir DIR] [--kb DIR]

The three modes run through `KnowledgeBase.search` with the shipped defaults. A fusion sweep then
re-fuses the same dense and BM25 candidate lists under several settings, on the *train* qrels (to
choose) and the *test* qrels (to report), so the default is not tuned on the numbers it reports.
The knowledge base is cached in --kb (default .cache/bench-scifact): a second run embeds nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.beir import BeirDataset, load_beir
from tailor.evaluate.metrics import evaluate_run
from tailor.evaluate.retrieval_eval import beir_documents, evaluate_modes
from tailor.kb.fusion import FUSIONS
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.kb.store import SearchFilter

ANCHORS = {"bm25": 0.686, "dense": 0.645, "hybrid": 0.717}  # bm25s+stemmer, MiniLM, plain RRF (this machine)
SWEEP = [("rrf", {"dense": 1.0, "bm25": 1.0}, k) for k in (10, 30, 60)] + [
    ("weighted", {"dense": a, "bm25": round(1 - a, 2)}, 60) for a in (0.3, 0.4, 0.5, 0.6, 0.7)
]
DEPTH = 300  # chunks per retriever, about 100 documents


def candidate_lists(kb: KnowledgeBase, dataset: BeirDataset) -> dict[str, dict]:
    search_filter = SearchFilter(("public",))
    lists = {}
    for query_id, text in dataset.queries.items():
        vector = kb.embedder.embed_query(text)
        lists[query_id] = {
            "dense": kb.store.dense_search(vector, DEPTH, search_filter),
            "bm25": kb.store.text_search(text, DEPTH, search_filter),
        }
    return lists


def fused_ndcg(dataset: BeirDataset, lists: dict[str, dict], fusion: str, weights: dict, rrf_k: int) -> float:
    run = {}
    for query_id, rankings in lists.items():
        ranked: list[str] = []
        for chunk_id, _ in FUSIONS[fusion](rankings, weights, rrf_k=rrf_k):
            doc_id = chunk_id.rsplit("#", 1)[0]
            if doc_id not in ranked:
                ranked.append(doc_id)
        run[query_id] = {d: float(len(ranked) - i) for i, d in enumerate(ranked[:100])}
    return evaluate_run(dataset.qrels, run, ks=(10,))["ndcg@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beir", type=Path, default=datasets_dir() / "beir_scifact")
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-scifact")
    args = parser.parse_args()
    if not (args.beir / "corpus.jsonl").exists():
        print(f"skipped: no BEIR folder at {args.beir}")
        return
    test, train = load_beir(args.beir, "test"), load_beir(args.beir, "train")
    kb = KnowledgeBase.open(args.kb)
    report = kb.ingest_documents(beir_documents(test))
    print(f"ingest: {report.chunks} chunks embedded in {report.embed_seconds:.1f}s, {report.unchanged} unchanged")

    results = evaluate_modes(test, lambda q, k, m: kb.search(q, k=k, mode=m), modes=["bm25", "dense", "hybrid"])
    rows = [
        [mode, m["ndcg@10"], ANCHORS[mode], m["recall@10"], m["recall@100"], m["mrr@10"]]
        for mode, m in results.items()
    ]
    print_table("BEIR SciFact test (300 queries), shipped defaults",
                ["mode", "nDCG@10", "anchor", "R@10", "R@100", "MRR@10"], rows)

    train_lists, test_lists = candidate_lists(kb, train), candidate_lists(kb, test)
    sweep = []
    for fusion, weights, rrf_k in SWEEP:
        name = f"rrf k={rrf_k}" if fusion == "rrf" else f"weighted dense={weights['dense']}"
        sweep.append({
            "setting": name,
            "train_ndcg@10": fused_ndcg(train, train_lists, fusion, weights, rrf_k),
            "test_ndcg@10": fused_ndcg(test, test_lists, fusion, weights, rrf_k),
        })
    print_table("Fusion sweep (choose on train, report on test)", ["setting", "train nDCG@10", "test nDCG@10"],
                [[s["setting"], s["train_ndcg@10"], s["test_ndcg@10"]] for s in sweep])
    path = write_result("beir_scifact", {
        "dataset": str(args.beir), "chunks": kb.stats()["chunks"], "anchors": ANCHORS,
        "results": results, "fusion_sweep": sweep,
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
