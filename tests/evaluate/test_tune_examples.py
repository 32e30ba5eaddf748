"""`tailor tune` on an examples folder with the scratch model: k, the demonstration format and the search mode
of the rag and hybrid arms searched on the dev part only (no test example is ever asked), and the chosen
point applied by `tailor compare --tuned`."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch
from pydantic import ValidationError

from helpers.examples_case import write_folder
from tailor.cli.compare import _apply_tuned
from tailor.config_files import read_mapping
from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.examples import label_set, load_examples, split_examples
from tailor.evaluate.tune import Budget, TuneConfig, run_tune
from tailor.evaluate.tune.example_space import EXAMPLE_CHOICES, ExampleSettings
from tailor.evaluate.tune.front import FrontPoint
from tailor.evaluate.tune.settings_files import examples_fragment, write_settings
from tailor.evaluate.tune.study import storage_url
from tailor.generate.demonstrations import DemonstrationPrompts

CONFIG = {"examples": {"path": "examples.jsonl", "output": "intent"}, "base_model": "scratch",
          "scratch": {"epochs": 1}, "probes": {"forgetting": False}, "training": {"finetune": {"epochs": 1}},
          "bootstrap": 200}  # a one-epoch scratch model: its answers are noise, which is all these tests need


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield write_folder(tmp_path_factory.mktemp("tune-examples"), CONFIG)
    torch.set_num_threads(threads)


def split_ids(folder: Path) -> dict[str, set[str]]:
    """The examples split as compare makes it, read independently of tune."""
    spec = CompareConfig.from_folder(folder).examples
    examples = load_examples(spec).examples
    parts = split_examples(examples, spec, label_set(examples, spec))
    return {name: {e.id for e in found} for name, found in parts.items()}


@pytest.fixture(scope="module")
def tuned(folder):
    """rag and hybrid (the examples defaults) tuned for 2 trials each; every question asked recorded."""
    asked: list[tuple[str, str, str]] = []
    ask = Answerer.ask

    def recording(self, plan, strategy, questions, *args, **kwargs):
        asked.extend((plan.name, q.id, q.question) for q in questions)
        return ask(self, plan, strategy, questions, *args, **kwargs)

    compare = CompareConfig.from_folder(folder, {"home": str(folder / "home")})
    config = TuneConfig(compare=compare, out=folder / "tune", budget=Budget(trials=4))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Answerer, "ask", recording)
        result = run_tune(config)
    return result, asked


def test_the_search_asks_dev_examples_only_never_a_test_one(tuned, folder):
    result, asked = tuned
    parts = split_ids(folder)
    split = result.report["split"]
    assert set(split["dev_question_ids"]) == parts["dev"] and split["test"] == len(parts["test"]) > 0
    assert {name for name, _, _ in asked} == {"rag", "hybrid"}
    assert {qid for _, qid, _ in asked} == parts["dev"]
    test_inputs = {e.input for e in load_examples(CompareConfig.from_folder(folder).examples).examples
                   if e.id in parts["test"]}
    assert not {text for _, _, text in asked} & test_inputs
    for arm in ("rag", "hybrid"):
        study = optuna.load_study(study_name=f"tailor-tune-{arm}", storage=storage_url(folder / "tune"))
        assert len(study.trials) == 2 and all(set(t.user_attrs["question_ids"]) == parts["dev"] for t in study.trials)
        assert result.report["arms"][arm]["held_out"] is None  # test is compare --tuned's, not tune's


def test_k_and_the_format_are_searched_and_the_mode_is_shared(tuned, folder):
    result, _ = tuned
    assert result.report["objectives"]["accuracy"].startswith("label_accuracy")
    rag, hybrid = (optuna.load_study(study_name=f"tailor-tune-{arm}", storage=storage_url(folder / "tune"))
                   for arm in ("rag", "hybrid"))
    drawn = rag.trials[1].distributions
    assert drawn["top_k"].choices == tuple(EXAMPLE_CHOICES["top_k"])
    assert set(drawn["template"].choices) == {"examples_demonstrations", "examples_compact"}
    assert "mode" in drawn and "mode" not in hybrid.trials[1].distributions  # rag chose it; hybrid at its choice
    arms = result.report["arms"]
    chosen = {name: arms[name]["front"][0]["settings"] for name in ("rag", "hybrid")}
    assert chosen["hybrid"]["mode"] == chosen["rag"]["mode"]
    files = {name: read_mapping(Path(arms[name]["settings_files"][arms[name]["chosen"]])) for name in chosen}
    assert files["rag"]["retrieval"] == files["hybrid"]["retrieval"]
    for name, data in files.items():
        (arm,) = data["arms"]
        assert (arm["name"], arm.get("top_k", 5), arm["template"]) == (
            name, chosen[name]["top_k"], chosen[name]["template"])
    assert "data:image/png;base64," in result.paths["html"].read_text()


def test_compare_tuned_applies_the_points_k_and_format(tuned, folder, tmp_path):
    result, _ = tuned
    out = result.paths["json"].parent
    base = CompareConfig.from_folder(folder, {"home": str(folder / "home"), "out": str(tmp_path / "compare")})
    points = {"rag": ExampleSettings(top_k=2, template="examples_compact", mode="dense", dense_weight=1.0),
              "hybrid": ExampleSettings(top_k=1, template="examples_compact", mode="dense", dense_weight=1.0)}
    for name, settings in points.items():  # the chosen files, rewritten at points other than the defaults
        point = FrontPoint(arm=name, rank=1, trial=0, accuracy=0.0, p50_ms=0.0, cost_per_1000=0.0,
                           settings=settings.model_dump(), defaults=False)
        write_settings(out / "settings", point, examples_fragment(base, name, settings))
    config = _apply_tuned(base, out, [])
    config = config.model_copy(update={"arms": [a for a in config.arms if a.name in points]})
    assert config.retrieval.mode == "dense"
    shown: list[tuple[str, int]] = []
    build = DemonstrationPrompts.build

    def recording(self, question, hits):
        prompt = build(self, question, hits)
        shown.append((self.builder.template_name, len(prompt.demonstrations)))
        return prompt

    from tailor.evaluate.compare import run_compare

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DemonstrationPrompts, "build", recording)
        report = run_compare(config).report
    assert {a["name"]: a["top_k"] for a in report["arms"]} == {"rag": 2, "hybrid": 1}
    assert report["primary_metric"] == "label_accuracy"  # what the configuration never set, the task still sets
    assert {template for template, _ in shown} == {"examples_compact"}  # training rows and both arms' prompts
    assert {n for _, n in shown} == {1, 2}  # hybrid's k (its rows and prompts) and rag's; untuned both show 5
    card = Path(report["arms"][1]["adapter"]["data_card"])
    assert read_mapping(card)["config"]["template"] == "examples_compact"  # hybrid trained on the prompt it is asked


def test_examples_tune_rag_and_hybrid_by_default_and_documents_cannot_tune_hybrid(folder):
    assert TuneConfig(compare=CompareConfig.from_folder(folder)).arms == ["rag", "hybrid"]
    documents = CompareConfig(docs=folder)
    assert TuneConfig(compare=documents).arms == ["rag", "finetuned"]
    with pytest.raises(ValidationError, match="examples folder only"):
        TuneConfig(compare=documents, arms=["rag", "hybrid"])
