"""Latency of `ask` (rag strategy, extractive reader) per stage, p50/p95, over 10k+ chunks.

    python benchmarks/ask_latency.py [--beir DIR] [--kb DIR] [--queries N] [--threads N]

Results go to results/ask_latency.json (torch's default threads) or ask_latency_threadsN.json.

The corpus is BEIR SciFact (5,183 abstracts, about 12k chunks); the questions are its test
queries, asked as the public group. The knowledge base defaults to the one beir_scifact.py builds
(.cache/bench-scifact), so nothing is embedded twice. Three ways of asking, interleaved question by
question so that they share the machine's load:

- `new`: the question is asked for the first time (the memo of query vectors is cleared);
- `repeated`: the same question again at once (its vector memoised: retrieval without embedding);
- `sentence-embedding`: `new` plus what the previous reader paid for every passage it had not seen
  before: embedding the 8 best candidate sentences (the reader's features are unchanged; only that
  cost is added, to show it side by side with the shipped reader under the same load).

The load average is recorded next to the numbers: other processes on the same cores inflate them,
and with two torch threads on two busy cores a query embedding can take 10x longer (--threads 1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Generator as PyGenerator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.beir import load_beir
from tailor.evaluate.retrieval_eval import beir_documents
from tailor.generate.extractive import ExtractiveReader
from tailor.generate.prompts import Prompt
from tailor.generate.readers import Reading
from tailor.generate.strategies import AskConfig, PipelineStrategy, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase

STAGES = ("retrieve", "rerank", "generate", "total")
WARM_UP = (
    "How do vaccines train the immune system?",
    "What does insulin do?",
    "Is coffee bad for the heart?",
)
PREVIOUS_SHORTLIST = 8


class SentenceEmbeddingReader:
    """The shipped reader plus the previous reader's first-sight cost: its shortlist of sentences embedded."""

    name = "extractive+sentence-embedding"

    def __init__(self, reader: ExtractiveReader) -> None:
        self.reader = reader

    def read(self, question: str, prompt: Prompt) -> Reading:
        self._embed_shortlist(question, prompt)
        return self.reader.read(question, prompt)

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]:
        self._embed_shortlist(question, prompt)
        return (yield from self.reader.stream(question, prompt))

    def _embed_shortlist(self, question: str, prompt: Prompt) -> None:
        shortlist = self.reader.candidates(question, prompt.hits)[:PREVIOUS_SHORTLIST]
        self.reader.embedder.embed_documents([c.text for c in shortlist])


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
    assert isinstance(strategy, PipelineStrategy) and isinstance(strategy.reader, ExtractiveReader)
    assert strategy.retriever is not None
    previous = replace(strategy, reader=SentenceEmbeddingReader(strategy.reader))
    memo = strategy.retriever.embedder
    queries = list(dataset.queries.values())[: args.queries]
    for query in WARM_UP:  # load the models and the indexes with questions that are not measured
        previous.answer(query, ("public",))
    passes: dict[str, list[dict[str, float]]] = {"new": [], "repeated": [], "sentence-embedding": []}
    load_before = os.getloadavg()[0]
    for query in queries:
        memo.clear()
        passes["new"].append(strategy.answer(query, ("public",)).timings_ms)
        passes["repeated"].append(strategy.answer(query, ("public",)).timings_ms)
        memo.clear()
        passes["sentence-embedding"].append(previous.answer(query, ("public",)).timings_ms)
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
        f"ask_latency_threads{args.threads}" if args.threads else "ask_latency",
        {
            "chunks": chunks,
            "queries": len(queries),
            "torch_threads": threads,
            "load_average": [load_before, load_after],
            "results": results,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
