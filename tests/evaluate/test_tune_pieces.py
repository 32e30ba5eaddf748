"""The pure pieces of `tailor tune`: the budget, the front, the early stop, the search space's defaults."""

from __future__ import annotations

import itertools
import random

import optuna
import pytest

from tailor.evaluate.compare.config import ArmConfig, TrainingConfig
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.tune.config import Budget
from tailor.evaluate.tune.front import dominates, pareto_front
from tailor.evaluate.tune.measure import Measure
from tailor.evaluate.tune.objective import DIRECTIONS, dominated_beyond_doubt, slice_of
from tailor.evaluate.tune.space import default_finetune, default_rag, params_of, suggest_rag
from tailor.kb.config import IndexConfig, RetrievalConfig


@pytest.mark.parametrize(("text", "trials", "seconds"), [("30", 30, None), ("20m", None, 1200.0),
                                                          ("90s", None, 90.0), ("1.5h", None, 5400.0)])
def test_a_budget_is_trials_or_time(text, trials, seconds):
    assert Budget.parse(text) == Budget(trials=trials, seconds=seconds)


def test_a_malformed_budget_says_what_to_give():
    with pytest.raises(ValueError, match="20m"):
        Budget.parse("twenty")


def _study(values: list[tuple[float, float, float]]) -> optuna.Study:
    study = optuna.create_study(directions=DIRECTIONS)
    for number, value in enumerate(values):
        study.add_trial(optuna.trial.create_trial(values=list(value), user_attrs={"settings": {"n": number}}))
    return study


def test_the_front_holds_exactly_the_non_dominated_trials_most_accurate_first():
    rng = random.Random(0)
    values = [(round(rng.random(), 2), rng.choice([100.0, 200.0, 300.0]), rng.choice([0.01, 0.02])) for _ in range(40)]
    front = pareto_front("rag", _study(values))
    on_front = {p.trial for p in front}
    for i, value in enumerate(values):
        beaten = any(dominates(other, value) for other in values)
        assert (i in on_front) == (not beaten), (i, value)
    assert [p.accuracy for p in front] == sorted((p.accuracy for p in front), reverse=True)
    assert [p.name for p in front] == [f"rag-{i}" for i in range(1, len(front) + 1)]
    for a, b in itertools.permutations(front, 2):
        assert not dominates((a.accuracy, a.p50_ms, a.cost_per_1000), (b.accuracy, b.p50_ms, b.cost_per_1000))


def _measure(correct: list[float], p50: float, cost: float) -> Measure:
    return Measure(accuracy=sum(correct) / len(correct), p50_ms=p50, cost_per_1000=cost, setup_seconds=0.0,
                   question_ids=[str(i) for i in range(len(correct))],
                   correct={str(i): v for i, v in enumerate(correct)}, abstain_correct=None)


def test_a_trial_stops_early_only_when_a_finished_one_beats_it_beyond_its_ci_at_no_more_latency_and_cost():
    finished = _study([(0.9, 200.0, 0.01)]).trials
    weak = _measure([1.0] + [0.0] * 15, p50=250.0, cost=0.02)
    assert dominated_beyond_doubt(weak, finished) == 0
    assert dominated_beyond_doubt(_measure([1.0] + [0.0] * 15, p50=150.0, cost=0.02), finished) is None  # faster
    assert dominated_beyond_doubt(_measure([1.0] + [0.0] * 15, p50=250.0, cost=0.005), finished) is None  # cheaper
    close = _measure([1.0] * 13 + [0.0] * 3, p50=250.0, cost=0.02)  # 0.81, its CI reaches above 0.9
    assert dominated_beyond_doubt(close, finished) is None


def test_the_early_slice_is_a_seeded_part_of_the_questions_and_none_for_few_questions():
    questions = [Question(str(i), f"q{i}?", ("a",)) for i in range(40)]
    first = slice_of(questions, 0.5, seed=3)
    assert len(first) == 20 and first == slice_of(questions, 0.5, seed=3) and set(first) <= set(questions)
    assert slice_of(questions[:10], 0.5, seed=3) == [] and slice_of(questions, 0.0, seed=3) == []


def test_the_defaults_are_a_point_of_the_space_the_first_trial_draws():
    default = default_rag(ArmConfig(name="rag", strategy="rag"), "smollm2-135m-instruct", IndexConfig(),
                          RetrievalConfig())
    assert (default.template, default.focus_sentences, default.focus_abstain_below) == ("rag_quoted", 1, 0.15)
    study = optuna.create_study(directions=DIRECTIONS)
    study.enqueue_trial(params_of(default, can_chunk=True, can_rerank=False))
    trial = study.ask()
    assert suggest_rag(trial, default, can_chunk=True, can_rerank=False) == default
    tiny = default_finetune(ArmConfig(name="finetuned", strategy="finetuned"), TrainingConfig(), "tiny", False)
    assert tiny.lora_rank == 16 and tiny.data_format == "qa"


def test_a_drawn_chunking_whose_overlap_is_not_under_half_the_chunk_is_pruned_before_any_work():
    default = default_rag(ArmConfig(name="rag", strategy="rag"), "smollm2-135m-instruct", IndexConfig(),
                          RetrievalConfig())
    study = optuna.create_study(directions=DIRECTIONS)
    study.enqueue_trial({**params_of(default, can_chunk=True, can_rerank=False), "chunk_tokens": 96,
                         "overlap_tokens": 64})
    with pytest.raises(optuna.TrialPruned, match="overlap 64 is not under half of chunk 96"):
        suggest_rag(study.ask(), default, can_chunk=True, can_rerank=False)
    study.enqueue_trial({**params_of(default, can_chunk=True, can_rerank=False), "chunk_tokens": 96,
                         "overlap_tokens": 32})
    assert suggest_rag(study.ask(), default, can_chunk=True, can_rerank=False).chunk_tokens == 96
