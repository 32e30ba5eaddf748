"""Latency of `ask` (rag strategy, extractive reader) per stage, p50/p95, over 10k+ chunks.

    python benchmarks/ask_latency.py [--beir DIR] [--kb DIR] [--queries N]

The corpus is BEIR SciFact (5,183 abstracts, about 12k chunks); the questions are its test
queries, asked as the public group. The knowledge base defaults to the one beir_scifact.py builds
(.cache/bench-scifact), so nothing is embedded twice. Two passes: `cold` asks each query for the
first time (every candidate sentence is embedded), `warm` asks them again with the sentence vectors
in the reader's cache, as for popular passages in a running service (the questions themselves are
embedded again: the memo of query vectors is cleared before each pass). The machine's load
average is recorded next to the numbers: other processes on the same cores inflate them, and with
two torch threads on two busy cores a query embedding can take 10x longer than with one (--threads 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch
from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.beir import load_beir
from tailor.evaluate.retrieval_eval import beir_documents
from tailor.generate.strategies import AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase

STAGES = ("retrieve", "rerank", "generate", "total")
WARM_UP = (
    "How do vaccines train the immune system?",
    "What does insulin do?",
    "Is coffee bad for the heart?",
)


def percentiles(timings: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    return {
        stage: {
            "p50": float(np.percentile([t[stage] for t in timings], 50)),
            "p95": float(np.percentile([t[stage] for t in timings], 95)),
        }
        for stage in STAGES
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--beir", type=Path, default=datasets_dir() / "beir_scifact")
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-scifact")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)."
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.beir / "corpus.jsonl").is_file():
        print(f"skipped: no BEIR SciFact at {args.beir} (set TAILOR_DATASETS or --beir)")
        return 0
    dataset = load_beir(args.beir, "test")
    kb = KnowledgeBase.open(args.kb)
    report = kb.ingest_documents(beir_documents(dataset))
    chunks = kb.stats()["chunks"]
    print(f"{chunks} chunks ({report.chunks} embedded now, {report.unchanged} documents unchanged)")
    strategy = make_strategy(AskConfig(), kb)
    queries = list(dataset.queries.values())[: args.queries]
    for query in WARM_UP:  # load the model and the indexes with questions that are not measured
        strategy.answer(query, ("public",))
    passes: dict[str, list[dict[str, float]]] = {}
    load_before = os.getloadavg()[0]
    for name in ("cold", "warm"):
        strategy.retriever.embedder.clear()  # each pass embeds its questions; only sentence vectors stay warm
        passes[name] = [strategy.answer(query, ("public",)).timings_ms for query in queries]
    load_after = os.getloadavg()[0]
    results = {name: percentiles(timings) for name, timings in passes.items()}
    rows = [
        [f"{name} {stage}", results[name][stage]["p50"], results[name][stage]["p95"]]
        for name in results
        for stage in STAGES
    ]
    print_table(
        f"ask latency (ms), {chunks} chunks, {len(queries)} queries", ["pass / stage", "p50", "p95"], rows
    )
    threads = torch.get_num_threads()
    print(
        f"load average: {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} cores, {threads} torch threads"
    )
    path = write_result(
        "ask_latency",
        {
            "chunks": chunks,
            "queries": len(queries),
            "load_average": [load_before, load_after],
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
