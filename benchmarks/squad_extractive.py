"""The extractive reader on SQuAD v2 (dev half): every paragraph is a document, retrieval runs over all.

    python benchmarks/squad_extractive.py [--squad DIR] [--kb DIR] [--limit N] [--calibrate]

Articles 0-7 are the calibration half, 8-15 the report half: `--calibrate` fits the reader's
ranking weights (conditional logit over the sentences of each answerable question's top-5 hits),
its confidence model (logistic: does the best sentence hold the answer?) and the abstention
threshold on the calibration half only, and prints the constants for tailor/generate/extractive.py.
The threshold is the one closest to meeting both targets at once (the larger of
min(accuracy / 0.70, F1 / 0.60)). The default run reports on both halves; only the report half is
held out. Metrics:

- sentence accuracy: answerable questions whose cited sentence contains a gold answer span of the
  gold paragraph (abstaining counts as wrong); `top sentence` is the same without abstention;
- abstention precision / recall / F1, unanswerable questions being the positives;
- answer-in-top-k: the gold paragraph among the first k hits (answerable questions).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import REPO, datasets_dir, print_table, write_result
from scipy.optimize import minimize

from tailor.generate.extractive import (
    ABSTAIN_BELOW,
    RANKING,
    Candidate,
    ExtractiveReader,
    confidence,
    rank,
)
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Document

CALIBRATION_ARTICLES = range(0, 8)
TOP_K = 5
TARGET_ACCURACY, TARGET_F1 = 0.70, 0.60
SWEEP = (0.0, 0.1, 0.15, 0.2, 0.22, 0.24, 0.25, 0.26, 0.28, 0.3, 0.35, 0.4, 0.5)


@dataclass
class Question:
    text: str
    doc_id: str
    article: int
    answerable: bool
    spans: list[tuple[int, int]]


def load_squad(folder: Path) -> tuple[list[Document], list[Question]]:
    data = json.loads((folder / "dev-v2.0.json").read_text())
    documents, questions = [], []
    for a, article in enumerate(data["data"]):
        for j, paragraph in enumerate(article["paragraphs"]):
            doc_id = f"{article['title']}/{j}"
            documents.append(Document(doc_id, paragraph["context"], article["title"], f"squad_v2:{doc_id}"))
            for qa in paragraph["qas"]:
                spans = [(x["answer_start"], x["answer_start"] + len(x["text"])) for x in qa["answers"]]
                questions.append(Question(qa["question"], doc_id, a, not qa["is_impossible"], spans))
    return documents, questions


def holds_answer(candidate: Candidate, question: Question) -> bool:
    chunk = candidate.hit.chunk
    start, end = chunk.start + candidate.start, chunk.start + candidate.end
    return chunk.doc_id == question.doc_id and any(start <= a and b <= end for a, b in question.spans)


@dataclass
class Outcome:
    """One question: is it answerable, is the best sentence right, how sure, where the gold paragraph ranked."""

    answerable: bool
    right: bool
    confidence: float
    gold_rank: int | None


def outcomes(kb: KnowledgeBase, reader: ExtractiveReader, questions: list[Question]) -> list[Outcome]:
    """What `reader.extract` decides, kept apart from the threshold so that any threshold can be scored."""
    found = []
    for q in questions:
        hits = kb.search(q.text, k=10).hits
        candidates = reader.candidates(q.text, hits[:TOP_K])
        docs = list(dict.fromkeys(h.chunk.doc_id for h in hits))
        found.append(
            Outcome(
                answerable=q.answerable,
                right=bool(candidates) and q.answerable and holds_answer(candidates[0], q),
                confidence=confidence(reader.confidence_features(q.text, candidates)) if candidates else 0.0,
                gold_rank=docs.index(q.doc_id) + 1 if q.doc_id in docs else None,
            )
        )
    return found


def metrics(found: list[Outcome], threshold: float) -> dict[str, float]:
    answerable = [o for o in found if o.answerable]
    abstained = [o for o in found if o.confidence < threshold]
    caught = sum(not o.answerable for o in abstained)
    precision = caught / max(1, len(abstained))
    recall = caught / max(1, len(found) - len(answerable))
    return {
        "questions": len(found),
        "threshold": threshold,
        "sentence_accuracy": sum(o.right and o.confidence >= threshold for o in answerable) / len(answerable),
        "top_sentence_accuracy": sum(o.right for o in answerable) / len(answerable),
        "abstain_precision": precision,
        "abstain_recall": recall,
        "abstain_f1": 2 * precision * recall / max(1e-9, precision + recall),
        "abstain_rate": len(abstained) / len(found),
        **{
            f"answer_in_top{k}": sum(o.gold_rank is not None and o.gold_rank <= k for o in answerable)
            / len(answerable)
            for k in (1, 5, 10)
        },
    }


def _fit(loss, dim: int) -> np.ndarray:
    return minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B").x


def _targets_met(accuracy: float, f1: float) -> float:
    """How far a threshold gets towards both targets at once: the smaller of the two ratios."""
    return min(accuracy / TARGET_ACCURACY, f1 / TARGET_F1)


def calibrate(kb: KnowledgeBase, reader: ExtractiveReader, questions: list[Question]) -> dict[str, object]:
    """Fit ranking weights, then the confidence model, then the threshold, on `questions`."""
    names = list(RANKING)
    groups = []
    for q in questions:
        candidates = reader.candidates(q.text, kb.search(q.text, k=TOP_K).hits)
        groups.append((q, candidates, np.array([[c.features[n] for n in names] for c in candidates])))

    def ranking_loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad, n = 0.0, np.zeros_like(w), 0
        for q, candidates, x in groups:
            good = np.array([holds_answer(c, q) for c in candidates], dtype=bool)
            if not q.answerable or not good.any():
                continue
            s = x @ w
            p = np.exp(s - s.max())
            p /= p.sum()
            total -= np.log(p[good].sum())
            grad -= (p * good / p[good].sum()) @ x - p @ x
            n += 1
        return total / n + 0.01 * w @ w, grad / n + 0.02 * w

    weights = dict(zip(names, _fit(ranking_loss, len(names)).tolist(), strict=True))
    rows, labels, answerable = [], [], []
    for q, candidates, _ in groups:
        if not candidates:
            continue
        ranked = rank(candidates, weights)
        features = reader.confidence_features(q.text, ranked)
        rows.append(list(features.values()))
        labels.append(q.answerable and holds_answer(ranked[0], q))
        answerable.append(q.answerable)
    x = np.hstack([np.ones((len(rows), 1)), np.array(rows)])
    y = np.array(labels, dtype=float)

    def logistic_loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        eps = 1e-12
        loss = -np.mean(y * np.log(p + eps) + (1 - y) * np.log(1 - p + eps)) + 1e-3 * w[1:] @ w[1:]
        return loss, x.T @ (p - y) / len(y) + np.r_[0.0, 2e-3 * w[1:]]

    coef = _fit(logistic_loss, x.shape[1])
    prob = 1.0 / (1.0 + np.exp(-(x @ coef)))
    found = [Outcome(a, bool(r), float(p), None) for a, r, p in zip(answerable, y, prob, strict=True)] + [
        Outcome(q.answerable, False, 0.0, None) for q, candidates, _ in groups if not candidates
    ]
    thresholds = np.round(np.arange(0.02, 0.8, 0.01), 2)
    scored = [metrics(found, float(t)) for t in thresholds]
    best = max(scored, key=lambda m: _targets_met(m["sentence_accuracy"], m["abstain_f1"]))
    return {
        "RANKING": {name: round(w, 2) for name, w in weights.items()},
        "CONFIDENCE": dict(zip(["bias", *features], np.round(coef, 2).tolist(), strict=True)),
        "ABSTAIN_BELOW": best["threshold"],
        "calibration_half": {
            k: round(best[k], 4) for k in ("sentence_accuracy", "abstain_f1", "abstain_rate")
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--squad", type=Path, default=datasets_dir() / "squad_v2_dev_half")
    parser.add_argument("--kb", type=Path, default=REPO / ".cache" / "bench-squad")
    parser.add_argument("--limit", type=int, default=None, help="Questions per half (for a quick look).")
    parser.add_argument("--calibrate", action="store_true", help="Fit the reader's constants; print them.")
    args = parser.parse_args()
    if not (args.squad / "dev-v2.0.json").is_file():
        print(f"skipped: no SQuAD v2 at {args.squad} (set TAILOR_DATASETS or --squad)")
        return 0
    documents, questions = load_squad(args.squad)
    kb = KnowledgeBase.open(args.kb)
    report = kb.ingest_documents(documents)
    print(f"{len(documents)} paragraphs; {report.chunks} chunks embedded, {report.unchanged} unchanged")
    halves = {
        "calibration": [q for q in questions if q.article in CALIBRATION_ARTICLES][: args.limit],
        "report": [q for q in questions if q.article not in CALIBRATION_ARTICLES][: args.limit],
    }
    if args.calibrate:
        constants = calibrate(kb, ExtractiveReader(kb.embedder), halves["calibration"])
        print(json.dumps(constants, indent=2))
        return 0
    reader = ExtractiveReader(kb.embedder)
    results: dict[str, dict[str, float]] = {}
    sweep: dict[str, list[dict[str, float]]] = {}
    for name, subset in halves.items():
        started = time.perf_counter()
        found = outcomes(kb, reader, subset)
        print(f"{name}: {len(subset)} questions in {time.perf_counter() - started:.0f}s")
        results[name] = metrics(found, ABSTAIN_BELOW)
        sweep[name] = [metrics(found, t) for t in SWEEP]
    columns = [
        "half",
        "questions",
        "sentence acc",
        "top sentence",
        "abst P",
        "abst R",
        "abst F1",
        "top1",
        "top5",
        "top10",
    ]
    keys = ["questions", "sentence_accuracy", "top_sentence_accuracy", "abstain_precision", "abstain_recall"]
    keys += ["abstain_f1", "answer_in_top1", "answer_in_top5", "answer_in_top10"]
    rows = [[name, *(m[k] for k in keys)] for name, m in results.items()]
    print_table(f"SQuAD v2 dev half, extractive reader (abstain below {ABSTAIN_BELOW})", columns, rows)
    keys = [
        "threshold",
        "abstain_rate",
        "sentence_accuracy",
        "abstain_precision",
        "abstain_recall",
        "abstain_f1",
    ]
    rows = [[m[k] for k in keys] for m in sweep["report"]]
    print_table(
        "report half: the trade-off by threshold",
        ["threshold", "abstains", "sentence acc", "P", "R", "F1"],
        rows,
    )
    path = write_result(
        "squad_extractive",
        {"dataset": str(args.squad), "abstain_below": ABSTAIN_BELOW, "results": results, "sweep": sweep},
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
