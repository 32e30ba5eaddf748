"""Calibrate `semantic_match` on answers labelled by hand: agreement, balanced accuracy and Cohen's kappa of each
rule at its best threshold, and a cross-validated threshold for the shipped rule.

    python benchmarks/paraphrase_calibration.py

Rows: tests/data/paraphrase_labels.jsonl ({gold, answer, label 0/1, note}, written for this purpose).
Result: benchmarks/results/paraphrase_calibration.json.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from _common import REPO, datasets_dir, print_table, write_result

from tailor.evaluate.compare.scoring import states_answer
from tailor.evaluate.compare.semantic import THRESHOLD, SemanticMatcher, guards_pass, states_gold
from tailor.kb.embedding import SentenceTransformerEmbedder

LABELS = REPO / "tests" / "data" / "paraphrase_labels.jsonl"
GRID = [round(0.30 + 0.01 * i, 2) for i in range(66)]
FOLDS = 5


def load_rows(path: Path = LABELS) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def agreement(predicted: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """Share agreeing, balanced accuracy and Cohen's kappa of binary predictions against the labels."""
    n = len(labels)
    agree = sum(p == y for p, y in zip(predicted, labels, strict=True)) / n
    positives, negatives = sum(labels), n - sum(labels)
    recall = sum(p and y for p, y in zip(predicted, labels, strict=True)) / positives
    specificity = sum(not p and not y for p, y in zip(predicted, labels, strict=True)) / negatives
    said = sum(predicted) / n
    chance = said * positives / n + (1 - said) * negatives / n
    kappa = (agree - chance) / (1 - chance) if chance < 1 else 0.0
    return {"agreement": round(agree, 3), "balanced_accuracy": round((recall + specificity) / 2, 3),
            "kappa": round(kappa, 3), "accepted_correct": int(recall * positives),
            "accepted_wrong": negatives - int(round(specificity * negatives))}


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The grid threshold with the best balanced accuracy (the lowest among equals)."""
    return max(GRID, key=lambda t: (agreement([int(s >= t) for s in scores], labels)["balanced_accuracy"], -t))


def cross_validated(scores: Sequence[float], labels: Sequence[int], seed: int = 0) -> float:
    """Agreement when each fold is judged at the threshold picked on the other folds."""
    order = list(range(len(labels)))
    random.Random(seed).shuffle(order)
    right = 0
    for fold in range(FOLDS):
        held = set(order[fold::FOLDS])
        train = [i for i in order if i not in held]
        t = best_threshold([scores[i] for i in train], [labels[i] for i in train])
        right += sum(int(scores[i] >= t) == labels[i] for i in held)
    return round(right / len(labels), 3)


def squad_check(matcher: SemanticMatcher, pairs: int = 300, seed: int = 0) -> dict | None:
    """Accept rates on pairs nobody here labelled: another SQuAD annotator's differently worded answer to the same
    question (should match) and the answer to another question on the same paragraph (should not)."""
    path = datasets_dir() / "squad_v2_dev_half" / "dev-v2.0.json"
    if not path.is_file():
        return None
    same, other = [], []
    for article in json.loads(path.read_text())["data"]:
        for paragraph in article["paragraphs"]:
            answered = [q for q in paragraph["qas"] if q["answers"]]
            for q in answered:
                texts = list(dict.fromkeys(a["text"] for a in q["answers"]))
                if len(texts) > 1:
                    same.append((texts[1], texts[0]))
                rivals = [r["answers"][0]["text"] for r in answered if r is not q and not
                          {a["text"] for a in r["answers"]} & set(texts)]
                if rivals:
                    other.append((rivals[0], texts[0]))
    rng = random.Random(seed)
    same, other = rng.sample(same, pairs), rng.sample(other, pairs)
    rules = {"contains a gold (accuracy)": lambda a, g: float(states_answer(a, (g,))),
             f"semantic_match (threshold {THRESHOLD})": lambda a, g: matcher.match(a, [g])}
    return {"pairs": pairs, "seed": seed, "rules": {
        name: {"human_variant": round(sum(rule(a, g) for a, g in same) / pairs, 3),
               "other_question": round(sum(rule(a, g) for a, g in other) / pairs, 3)} for name, rule in rules.items()}}


def main() -> None:
    rows = load_rows()
    labels = [r["label"] for r in rows]
    matcher = SemanticMatcher(SentenceTransformerEmbedder())
    vectors = matcher.embedder.embed_documents([t for r in rows for t in (r["answer"], r["gold"])])
    cosines = [float(np.dot(vectors[2 * i], vectors[2 * i + 1])) for i in range(len(rows))]
    guarded = [guards_pass(r["answer"], r["gold"]) for r in rows]
    stated = [states_gold(r["answer"], r["gold"]) for r in rows]
    rules: dict[str, Callable[[int], float]] = {
        "cosine": lambda i: cosines[i],
        "cosine + guards": lambda i: cosines[i] * guarded[i],
        "cosine or states the gold, + guards (shipped rule)": lambda i: max(cosines[i], stated[i]) * guarded[i],
    }
    table, results = [], {}
    contains = [int(states_answer(r["answer"], (r["gold"],))) for r in rows]
    results["contains a gold (accuracy)"] = {"threshold": None, **agreement(contains, labels)}
    for name, rule in rules.items():
        scores = [rule(i) for i in range(len(rows))]
        t = best_threshold(scores, labels)
        results[name] = {"threshold": t, **agreement([int(s >= t) for s in scores], labels),
                         "cross_validated_agreement": cross_validated(scores, labels)}
    shipped = [matcher.closeness(r["answer"], [r["gold"]]) for r in rows]
    at_shipped = [int(s >= THRESHOLD) for s in shipped]
    results["shipped (SemanticMatcher, THRESHOLD)"] = {"threshold": THRESHOLD, **agreement(at_shipped, labels)}
    for name, found in results.items():
        table.append([name, found["threshold"], found["agreement"], found["balanced_accuracy"], found["kappa"],
                      f"{found['accepted_correct']}/{sum(labels)}", f"{found['accepted_wrong']}/{len(labels) - sum(labels)}",
                      found.get("cross_validated_agreement", "")])
    print_table(f"semantic_match calibration on {len(rows)} hand-labelled answers",
                ["rule", "threshold", "agreement", "balanced acc.", "kappa", "correct accepted", "wrong accepted",
                 "5-fold CV agreement"], table)
    disagreements = [{"gold": r["gold"], "answer": r["answer"], "label": r["label"], "closeness": round(s, 3),
                      "note": r["note"]} for r, s, p in zip(rows, shipped, at_shipped, strict=True) if p != r["label"]]
    for d in disagreements:
        print(f"  label {d['label']} closeness {d['closeness']:.3f}: {d['answer']!r} for {d['gold']!r} ({d['note']})")
    squad = squad_check(matcher)
    if squad:
        print_table(f"Out of sample: SQuAD v2 dev, {squad['pairs']} pairs of each kind (accept rates)",
                    ["rule", "another annotator's answer accepted", "another question's answer accepted"],
                    [[name, found["human_variant"], found["other_question"]] for name, found in squad["rules"].items()])
    path = write_result("paraphrase_calibration", {"rows": len(rows), "correct": sum(labels), "rules": results,
                                                   "disagreements": disagreements, "squad_v2_dev": squad})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
