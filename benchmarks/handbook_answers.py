"""Answer quality per strategy on the example handbook, with the offline defaults (extractive reader).

    python benchmarks/handbook_answers.py [--kb DIR] [--strategy NAME ...] [--generator SPEC]
                                          [--abstain-below P]

Every question of examples/handbook/questions.jsonl is asked as its own `groups`. On answerable
questions: exact match and token F1 of the answer text (markers removed) against the gold answers,
`contains` (the normalised gold answer appears in the answer: the fair measure for a reader that
quotes whole sentences), the right document cited, and wrong abstentions. On unanswerable ones:
the abstention rate. Means come with 95% bootstrap intervals. Results go to
results/handbook_answers.json, or handbook_answers_abstainP.json with a non-default --abstain-below
(the extractive reader's threshold is calibrated on SQuAD v2, half of whose questions are
unanswerable; this corpus has 20 unanswerable questions in 188).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import REPO, print_table, write_result

from tailor.evaluate.metrics import bootstrap_ci
from tailor.generate.citations import MARKER
from tailor.generate.extractive import ABSTAIN_BELOW
from tailor.generate.strategies import STRATEGIES, AskConfig, make_strategy
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer
from tailor.squad_metrics import exact_match, normalize_answer, token_f1

HANDBOOK = REPO / "examples" / "handbook"


def score(answer: Answer, question: dict) -> dict[str, float]:
    if not question["answerable"]:
        return {"abstained": float(answer.abstained)}
    text = MARKER.sub("", answer.text)
    golds = question["answers"]
    return {
        "em": 0.0 if answer.abstained else exact_match(text, golds),
        "f1": 0.0 if answer.abstained else token_f1(text, golds),
        "contains": float(
            not answer.abstained and any(normalize_answer(g) in normalize_answer(text) for g in golds)
        ),
        "right_doc": float(any(c.doc_id in question["doc_ids"] for c in answer.citations)),
        "wrong_abstain": float(answer.abstained),
    }


def summarise(scores: list[dict[str, float]]) -> dict[str, list[float]]:
    keys = sorted({k for s in scores for k in s})
    return {k: list(bootstrap_ci([s[k] for s in scores if k in s])) for k in keys}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-handbook")
    parser.add_argument("--strategy", action="append", help="Strategies to run (default: all registered).")
    parser.add_argument("--generator", default="extractive")
    parser.add_argument(
        "--abstain-below", type=float, default=ABSTAIN_BELOW, help="The extractive reader's threshold."
    )
    args = parser.parse_args()
    questions = [json.loads(line) for line in (HANDBOOK / "questions.jsonl").read_text().splitlines() if line]
    kb = KnowledgeBase.open(args.kb)
    report = kb.ingest([HANDBOOK / "docs"])
    print(f"{kb.stats()['documents']} documents; {report.chunks} chunks embedded now")
    results: dict[str, dict[str, list[float]]] = {}
    for name in args.strategy or list(STRATEGIES):
        config = AskConfig(strategy=name, generator=args.generator, abstain_below=args.abstain_below)
        strategy = make_strategy(config, kb)
        scores = [score(strategy.answer(q["question"], q["groups"]), q) for q in questions]
        results[name] = summarise(scores)
    columns = ["strategy", "EM", "F1", "contains", "right doc", "wrong abstain", "abstain (unanswerable)"]
    keys = ["em", "f1", "contains", "right_doc", "wrong_abstain", "abstained"]
    rows = [
        [name, *(f"{m[k][0]:.3f} [{m[k][1]:.2f}, {m[k][2]:.2f}]" for k in keys)]
        for name, m in results.items()
    ]
    answerable = sum(q["answerable"] for q in questions)
    title = (
        f"handbook, {answerable} answerable + {len(questions) - answerable} unanswerable, {args.generator}"
        f" (abstain below {args.abstain_below})"
    )
    print_table(title, columns, rows)
    name = (
        "handbook_answers"
        if args.abstain_below == ABSTAIN_BELOW
        else f"handbook_answers_abstain{args.abstain_below}"
    )
    payload = {"generator": args.generator, "abstain_below": args.abstain_below, "results": results}
    path = write_result(name, payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
