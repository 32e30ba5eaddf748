"""`tailor tune` on a small folder with a tiny random model: the split keeps every held-out question out of
the search, expensive work is cached and reused, and a stopped or killed study continues to its budget."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
import torch

from helpers.tune_case import write_tune_folder
from tailor.config_files import read_mapping
from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import CompareConfig, with_tuned
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.questions import load_questions
from tailor.evaluate.tune import Budget, TuneConfig, run_tune
from tailor.evaluate.tune import arms as tuned_arms
from tailor.evaluate.tune import measure as tuned_measure
from tailor.evaluate.tune.kbs import KnowledgePool
from tailor.evaluate.tune.runner import make_search
from tailor.evaluate.tune.space import FinetuneSettings
from tailor.evaluate.tune.study import storage_url
from tailor.kb.config import IndexConfig, RetrievalConfig


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield write_tune_folder(tmp_path_factory.mktemp("tune"))
    torch.set_num_threads(threads)


def tune_config(folder: Path, out: Path, trials: int, arms: list[str] | None = None) -> TuneConfig:
    compare = CompareConfig.from_folder(folder, {"home": str(folder / "home")})
    return TuneConfig(compare=compare, out=out, arms=arms or ["rag"], budget=Budget(trials=trials))


@pytest.fixture(scope="module")
def seen(folder):
    """The rag arm tuned for 3 trials, every measurement's question ids recorded with its phase."""
    asked: list[tuple[str, list[str]]] = []
    measure = tuned_arms.RagArm.measure

    def recording(self, settings, questions, phase):
        asked.append((phase, [q.id for q in questions]))
        return measure(self, settings, questions, phase)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuned_arms.RagArm, "measure", recording)
        result = run_tune(tune_config(folder, folder / "out", trials=3))
    return result, asked


def test_no_held_out_question_reaches_a_trial(seen):
    result, asked = seen
    split = result.report["split"]
    dev, test = set(split["dev_question_ids"]), set(split["test_question_ids"])
    assert dev and test and not dev & test and len(dev | test) == 26
    trials = [ids for phase, ids in asked if "trial" in phase]
    held = [ids for phase, ids in asked if "held-out" in phase]
    assert len(trials) >= 3 and all(set(ids) <= dev for ids in trials)
    assert held and all(set(ids) == test for ids in held)
    study = optuna.load_study(study_name="tailor-tune-rag", storage=storage_url(result.paths["json"].parent))
    assert all(set(t.user_attrs["question_ids"]) <= dev for t in study.trials)


def test_the_report_gives_held_out_accuracy_of_tuned_and_defaults_with_cis_and_the_front_files(seen):
    result, _ = seen
    rag = result.report["arms"]["rag"]
    assert rag["search"]["trials"] == 3 and rag["trials"][0]["defaults"]
    for side in ("tuned", "defaults"):
        estimate = rag["held_out"][side]["accuracy"]
        assert estimate["low"] <= estimate["mean"] <= estimate["high"] and estimate["n"] == rag["held_out"]["answerable"]
    assert rag["held_out"]["difference"]["n"] == rag["held_out"]["answerable"]
    assert rag["chosen"] == "rag-1" and len(rag["settings_files"]) == len(rag["front"])
    html = result.paths["html"].read_text()
    assert "data:image/png;base64," in html and "held-out" in html


def test_a_settings_file_loads_as_compare_configuration_and_applies_to_its_arm(seen, folder):
    result, _ = seen
    point = result.report["arms"]["rag"]["front"][0]
    path = Path(result.report["arms"]["rag"]["settings_files"]["rag-1"])
    config = CompareConfig.from_folder(folder, read_mapping(path))  # what `tailor compare --config FILE` does
    (arm,) = config.arms
    assert (arm.name, arm.top_k, arm.template) == ("rag", point["settings"]["top_k"], point["settings"]["template"])
    assert config.kb_index.chunk_tokens == point["settings"]["chunk_tokens"]
    assert config.retrieval.mode == point["settings"]["mode"]
    merged = with_tuned(CompareConfig.from_folder(folder), read_mapping(path))
    assert [a.name for a in merged.arms] == ["rag", "finetuned"] and merged.arms[0] == arm


def test_a_stopped_study_continues_to_its_budget_and_a_killed_trial_runs_again(seen, folder):
    result, _ = seen
    out = result.paths["json"].parent
    study = optuna.load_study(study_name="tailor-tune-rag", storage=storage_url(out))
    before = [(t.number, t.params) for t in study.trials]
    study.ask()  # a trial its process never finished: what a SIGKILL leaves behind
    again = run_tune(tune_config(folder, out, trials=5))
    search = again.report["arms"]["rag"]["search"]
    assert (search["trials"], search["resumed_from"], search["trials_this_run"]) == (5, 3, 2)
    study = optuna.load_study(study_name="tailor-tune-rag", storage=storage_url(out))
    assert [(t.number, t.params) for t in study.trials[:3]] == before
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and states.count(optuna.trial.TrialState.COMPLETE) == 5
    assert any(t.user_attrs.get("retried") == 3 for t in study.trials)
    assert json.loads((out / "tune.json").read_text())["arms"]["rag"]["search"]["trials"] == 5


class CountingEmbedder:
    def __init__(self, inner) -> None:
        self.inner, self.texts = inner, 0
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens

    def embed_documents(self, texts, show_progress=False):
        self.texts += len(texts)
        return self.inner.embed_documents(texts, show_progress=show_progress)

    def embed_query(self, text):
        return self.inner.embed_query(text)

    def token_offsets(self, text):
        return self.inner.token_offsets(text)


def test_a_chunk_text_is_embedded_once_and_a_setting_asked_again_loads_no_model(folder, embedder, tmp_path,
                                                                                monkeypatch):
    counting = CountingEmbedder(embedder)
    pool = KnowledgePool(tmp_path / "work", counting, docs=folder / "docs")
    first = pool.get(IndexConfig(chunk_tokens=200, overlap_tokens=32), RetrievalConfig())
    embedded = counting.texts
    assert embedded == first.stats()["chunks"] > 0
    pool.get(IndexConfig(chunk_tokens=256, overlap_tokens=0), RetrievalConfig())  # short documents: the same chunks
    assert counting.texts == embedded
    pool.close()

    builds = []
    build = tuned_measure.build_strategy
    monkeypatch.setattr(tuned_measure, "build_strategy", lambda plan, kb: builds.append(plan.name) or build(plan, kb))
    config = tune_config(folder, tmp_path / "out", trials=1, arms=["finetuned"]).compare
    ctx = RunContext(config, tmp_path / "out", folder / "home")
    pool = KnowledgePool(ctx.work, counting, docs=folder / "docs")
    answerer = Answerer(ctx, AnswerCache(ctx.work / "answers.sqlite"), None)
    model = f"hf:{folder / 'tiny-llama'}"
    rag = make_search("rag", tune_config(folder, tmp_path / "out", 1), ctx, answerer, pool, model)
    finetuned = make_search("finetuned", tune_config(folder, tmp_path / "out", 1), ctx, answerer, pool, model)
    questions = load_questions(folder / "questions.jsonl").questions[:4]
    one = rag.arm.measure(rag.default, questions, "once")
    two = rag.arm.measure(rag.default, questions, "again")
    assert builds == ["rag"] and one.correct == two.correct and one.p50_ms == two.p50_ms
    recipe = FinetuneSettings(data_format="qa", paraphrases=0, lora_rank=4, modules="attention", epochs=1,
                              learning_rate=1e-3)
    finetuned.arm.measure(recipe, questions, "train")
    finetuned.arm.measure(recipe, questions, "again")
    assert len(finetuned.arm.trained) == 1 and builds == ["rag", "finetuned"]
    later = make_search("finetuned", tune_config(folder, tmp_path / "out", 1), ctx, answerer, pool, model)
    later.arm.measure(recipe, questions, "a later run")  # the adapter registry: same data and settings, reused
    assert later.arm.trained == [] and later.arm.adapters and all(a.reused for a in later.arm.adapters.values())
    pool.close()
