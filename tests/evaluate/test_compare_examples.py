"""Compare on labelled examples: the split, the arms' inputs, label scoring, access groups and the freshness probe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from helpers.examples_case import RESTRICTED, rows, write_folder
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.example_task import ExampleTask
from tailor.evaluate.compare.examples import (
    ExamplesConfig,
    label_set,
    load_examples,
    normalise_label,
    split_examples,
    stratified,
)
from tailor.evaluate.compare.labels import label_scores, macro_f1, macro_f1_estimate
from tailor.finetune.example_data import build_example_dataset
from tailor.generate.demonstrations import (
    Demonstration,
    DemonstrationPrompt,
    NearestExampleReader,
    example_strategy,
)
from tailor.generate.strategies import AskConfig

CONFIG = {"examples": {"path": "examples.jsonl", "output": "intent"}, "base_model": "scratch"}


@pytest.fixture
def task(tmp_path: Path, embedder) -> ExampleTask:
    folder = write_folder(tmp_path / "case", CONFIG)
    return ExampleTask(CompareConfig.from_folder(folder, {"out": str(tmp_path / "out"), "home": str(tmp_path / "home")}))


def _ctx(task: ExampleTask, tmp_path: Path) -> RunContext:
    return RunContext(task.config, tmp_path / "out", tmp_path / "home")


def test_bad_rows_are_named_by_line_and_the_rest_is_read(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": "a", "input": "hi", "output": "x"}\n{"input": 3, "output": "y"}\n'
                     b'\xff\xfe\n[1]\n{"id": "a", "input": "again", "output": "x"}\n'
                     b'{"input": "line\xe2\x80\xa8separator inside", "output": "y"}\n')
    found = load_examples(ExamplesConfig(path=path))
    assert [e.id for e in found.examples] == ["a", "row6"]
    assert found.examples[1].input == "line\u2028separator inside"
    reasons = {e.path: e.reason for e in found.errors}
    assert set(reasons) == {f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:5"}
    assert "'input'" in reasons[f"{path}:2"] and "UTF-8" in reasons[f"{path}:3"] and "duplicate" in reasons[f"{path}:5"]


def test_a_csv_with_named_columns_and_groups(tmp_path):
    path = tmp_path / "tickets.csv"
    path.write_text('text,category,groups\n"Where, exactly, is my card?",card_arrival,\nhello,greeting,"hr, ops"\n'
                    ',empty,\n')
    found = load_examples(ExamplesConfig(path=path, input="text", output="category"))
    assert [(e.input, e.output, e.groups) for e in found.examples] == [
        ("Where, exactly, is my card?", "card_arrival", ("public",)), ("hello", "greeting", ("hr", "ops"))]
    assert [e.path for e in found.errors] == [f"{path}:4"]


def test_labels_are_detected_only_when_outputs_repeat(tmp_path):
    write_folder(tmp_path, CONFIG)
    config = ExamplesConfig(path=tmp_path / "examples.jsonl", output="intent")
    examples = load_examples(config).examples
    assert label_set(examples, config) == ("delivery", "password", "refund")
    replies = [e.__class__(e.id, e.input, f"reply {e.id}") for e in examples]
    assert label_set(replies, config) is None
    assert label_set(examples, config.model_copy(update={"labels": "none"})) is None


def test_the_split_is_stratified_seeded_and_disjoint(tmp_path):
    write_folder(tmp_path, CONFIG)
    config = ExamplesConfig(path=tmp_path / "examples.jsonl", output="intent")
    examples = load_examples(config).examples
    parts = split_examples(examples, config, ("delivery", "password", "refund"))
    ids = {name: {e.id for e in found} for name, found in parts.items()}
    assert not ids["train"] & ids["test"] and not ids["train"] & ids["dev"] and not ids["dev"] & ids["test"]
    assert sum(len(v) for v in ids.values()) == len(examples)
    for label in ("delivery", "password", "refund"):  # every label in every part
        assert all(any(e.output == label for e in found) for found in parts.values())
    assert parts == split_examples(examples, config, ("delivery", "password", "refund"))
    assert len(stratified(parts["train"], 6, 0, ("x",))) == 6


def test_no_test_example_reaches_the_kb_the_training_data_or_a_prompt(task, tmp_path):
    ctx = _ctx(task, tmp_path)
    kb, info = task.open_kb(ctx)
    asked = {q.id for q in task.questions(ctx, kb).questions}
    train = {e.id for e in task.train_examples}
    assert asked and not asked & train
    assert set(kb.store.document_hashes()) == train and info["documents"] == len(train)
    for data_format in ("examples", "demonstrations"):
        build_example_dataset(task.train_examples, tmp_path / data_format, data_format, kb, ["public", "enterprise"])
        for line in (tmp_path / data_format / "train.jsonl").read_text().splitlines():
            row = json.loads(line)
            shown = set(row["doc_ids"]) | {c.rpartition("#")[0] for c in row["context_ids"]}
            assert not shown & asked
            assert row["id"] not in {c.rpartition("#")[0] for c in row["context_ids"]}  # never its own answer
    strategy = example_strategy(AskConfig(strategy="rag", generator="extractive"), kb, task.labels)
    for question in task.questions(ctx, kb).questions:
        prompt = strategy.prompts.build(question.question, kb.search(question.question, k=5).hits)  # type: ignore[attr-defined]
        assert not {h.chunk.doc_id for h in prompt.hits} & asked
    kb.close()


def test_knn_answers_the_hand_computed_neighbours(task, tmp_path, embedder):
    ctx = _ctx(task, tmp_path)
    kb, _ = task.open_kb(ctx)
    query = "the courier did not deliver my parcel and tracking shows nothing"
    train = [e for e in task.train_examples if e.groups == ("public",)]
    vectors = embedder.embed_documents([e.input for e in train])
    nearest = train[int(np.argmax(vectors @ embedder.embed_query(query)))]
    knn = example_strategy(AskConfig(strategy="rag", generator="extractive", top_k=1), kb, None)
    answer = knn.answer(query, ["public"])
    assert answer.text == nearest.output and answer.hits[0].chunk.doc_id == nearest.id
    shown = (Demonstration(1, "a", "refund"), Demonstration(2, "b", "delivery"), Demonstration(3, "c", "delivery"))
    prompt = DemonstrationPrompt(messages=[], hits=[], demonstrations=shown)
    assert NearestExampleReader(vote=True).read("q", prompt).text == "delivery"  # the majority of the 3
    assert NearestExampleReader(vote=False).read("q", prompt).text == "refund"  # the nearest one
    tie = DemonstrationPrompt(messages=[], hits=[], demonstrations=shown[:2])
    assert NearestExampleReader(vote=True).read("q", tie).text == "refund"  # a tie goes to the nearer
    kb.close()


def test_restricted_examples_are_never_shown_to_a_caller_without_their_group(task, tmp_path):
    ctx = _ctx(task, tmp_path)
    kb, _ = task.open_kb(ctx)
    restricted = {i for i, _, _ in RESTRICTED} & {e.id for e in task.train_examples}
    assert restricted, "the split should leave a restricted example in train"
    strategy = example_strategy(AskConfig(strategy="rag", generator="extractive", top_k=50), kb, task.labels)
    for _, text, _ in RESTRICTED:
        public = strategy.answer(text, ["public"])
        assert not {h.chunk.doc_id for h in public.hits} & restricted
        assert {h.chunk.doc_id for h in strategy.answer(text, ["public", "enterprise"]).hits} & restricted
    card = build_example_dataset(task.train_examples, tmp_path / "data", "demonstrations", kb, ["public"])
    assert card["adapter_groups"] == ["public"]
    for line in (tmp_path / "data" / "train.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert not (set(row["doc_ids"]) | {c.rpartition("#")[0] for c in row["context_ids"]}) & restricted
    kb.close()


@pytest.mark.parametrize(("text", "label"), [
    ("Card arrival.", "card_arrival"), ("**refund**\nbecause you asked", "refund"), ("  Card-Arrival ", "card_arrival"),
    ("“delivery”", "delivery"), ("Answer: password", "password"), ("password [1]\nSource: example m1", "password"),
])
def test_label_normalisation(text, label):
    labels = ("card_arrival", "delivery", "password", "refund")
    assert label_scores(text, False, label, labels) == {"label_accuracy": 1.0, "semantic_match": 1.0, "out_of_set": 0.0}


def test_an_answer_outside_the_label_set_is_wrong_and_counted():
    labels = ("delivery", "refund")
    assert label_scores("banana", False, "refund", labels) == {"label_accuracy": 0.0, "semantic_match": 0.0, "out_of_set": 1.0}
    assert label_scores("delivery", False, "refund", labels) == {"label_accuracy": 0.0, "semantic_match": 0.0, "out_of_set": 0.0}
    assert label_scores("refund", True, "refund", labels)["label_accuracy"] == 0.0  # an abstention is no answer
    assert normalise_label("Refund please") == "refund_please"


def test_macro_f1_equals_scikit_learn_and_its_interval_holds_it():
    rng = np.random.default_rng(3)
    labels = ["a", "b", "c", "d"]
    golds = list(rng.choice(labels[:3], 200))
    predicted = [g if rng.random() < 0.6 else str(rng.choice(labels + ["zzz"])) for g in golds]
    used = sorted(set(golds))
    expected = f1_score(golds, predicted, labels=used, average="macro", zero_division=0)
    assert macro_f1(golds, predicted, used) == pytest.approx(expected)
    estimate = macro_f1_estimate(golds, predicted, labels, 500, 0)
    assert estimate["mean"] == pytest.approx(expected) and estimate["low"] < expected < estimate["high"]


def test_the_scratch_compare_runs_every_arm_and_the_freshness_probe(tmp_path):
    from tailor.evaluate.compare import run_compare

    folder = write_folder(tmp_path / "case", {**CONFIG, "probes": {"forgetting": False},
                                              "training": {"finetune": {"epochs": 1}}})
    config = CompareConfig.from_folder(folder, {"out": str(tmp_path / "out"), "home": str(tmp_path / "home")})
    report = run_compare(config).report
    assert report["primary_metric"] == "label_accuracy"
    assert {a["name"]: a["status"] for a in report["arms"]} == dict.fromkeys(
        ["closed_book", "rag_extractive", "rag", "finetuned", "hybrid"], "ran")
    metrics = report["metrics"]
    assert metrics["rag_extractive"]["label_accuracy"]["mean"] >= 0.6  # kNN on three distinct intents
    assert all({"label_accuracy", "out_of_set", "macro_f1"} <= set(m) for m in metrics.values())
    section = report["examples"]
    assert section["labels"] == ["delivery", "password", "refund"] and section["errors"][0]["path"].endswith(":6")
    assert "label set" in section["arms"]["closed_book"] and "demonstrations" in section["arms"]["rag"]
    adapter = report["arms"][3]["adapter"]  # trained on the public train examples only (training.groups)
    assert adapter["groups"] == ["public"] and adapter["examples"]["train"] < section["split"]["trained_or_retrieved"]
    fresh = report["freshness"]["arms"]
    assert fresh["rag_extractive"]["after"]["mean"] > fresh["rag_extractive"]["before_new"]["mean"]  # new intent
    assert fresh["finetuned"]["time_to_fresh_measured"] is False
    assert report["recommendation"]["verdict"] in {"rag", "finetune", "hybrid", "unclear"}
    assert rows()  # the case has rows of every intent


def test_macro_f1_interval_is_not_biased_by_labels_a_resample_lacks():
    labels = [f"l{i}" for i in range(40)]  # one question per label: most resamples lack some labels
    golds = labels * 2
    predicted = [g if i % 10 < 7 else "l0" for i, g in enumerate(golds)]
    estimate = macro_f1_estimate(golds, predicted, labels, 500, 0)
    assert estimate["low"] <= estimate["mean"] <= estimate["high"]
