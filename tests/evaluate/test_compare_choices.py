"""Multiple-choice questions: every LLM arm is shown the same lettered options and is scored by the option it
chooses (`posed_question`, `chosen_choice`)."""

from __future__ import annotations

import pytest

from tailor.evaluate.compare.answering import Answerer
from tailor.evaluate.compare.arms import ArmPlan
from tailor.evaluate.compare.cache import AnswerCache
from tailor.evaluate.compare.config import ArmConfig, CompareConfig
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.questions import Question, parse_question
from tailor.evaluate.compare.scoring import chosen_choice, score_answer
from tailor.finetune import strategies  # noqa: F401  (registers the finetuned and hybrid strategies)
from tailor.generate.prompts import (
    CHOICES_INSTRUCTION,
    PromptBuilder,
    bare_question,
    posed_question,
    shipped_templates,
)
from tailor.generate.readers import Reading
from tailor.generate.strategies import STRATEGIES, PipelineStrategy
from tailor.records import Chunk, Hit

CHOICES = ("London", "Paris", "Berlin")
QUESTION = Question("mc", "Which city hosts the head office?", ("Paris",), ("office.md",), choices=CHOICES)
BLOCK = "A. London\nB. Paris\nC. Berlin\nAnswer with the letter of one option."
HIT = Hit(Chunk("office.md#0", "office.md", "The head office is in Paris, beside the river.", 0, 46), 1.0,
          "Offices", "office.md")


def test_the_options_follow_the_question_lettered_one_a_line():
    assert posed_question(QUESTION.question, CHOICES) == f"{QUESTION.question}\n{BLOCK}"
    assert QUESTION.asked == f"{QUESTION.question}\n{BLOCK}"
    assert posed_question("What is the cap?", ()) == "What is the cap?"  # no choices: asked as written
    assert posed_question("Q?", ("two\n  lines",)) == "Q?\nA. two lines\nAnswer with the letter of one option."


@pytest.mark.parametrize("question", ["Which city?", "Two lines:\nA. not an option, part of the question"])
def test_the_bare_question_is_the_posed_one_without_its_options(question):
    assert bare_question(posed_question(question, CHOICES)) == question
    assert bare_question(question) == question
    no_a = f"Which city?\nB. London\n{CHOICES_INSTRUCTION}"  # options must run from A: this text is not posed
    assert bare_question(no_a) == no_a


class RecordingReader:
    """A reader that records the prompts it is given and answers each with `reply`."""

    name = "recording"

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.prompts = []
        self.questions = []

    def read_batch(self, questions, prompts):
        self.prompts += prompts
        self.questions += questions
        return [Reading(text=self.reply) for _ in prompts]


class OneHit:
    def __init__(self) -> None:
        self.queries = []

    def run(self, question, groups):
        self.queries.append(question)
        return [HIT], {"retrieve": 0.0, "rerank": 0.0}


def _answerer(tmp_path):
    ctx = RunContext(CompareConfig(kb=tmp_path / "kb", out=tmp_path / "out", arms=[]), tmp_path / "out", tmp_path)
    ctx.work.mkdir(parents=True, exist_ok=True)
    return Answerer(ctx, AnswerCache(ctx.work / "answers.sqlite"), audit=None)


ARMS = ("closed_book", "rag", "finetuned", "hybrid")


DOCUMENT_TEMPLATES = {STRATEGIES[arm].template for arm in ARMS} | {
    name for name in shipped_templates() if not name.startswith("examples_")}  # rag_quoted: SmolLM2's rag arm


@pytest.mark.parametrize("template", sorted(DOCUMENT_TEMPLATES))
def test_every_arm_template_shows_the_options_block_in_the_user_turn(template):
    prompt = PromptBuilder(template).build(QUESTION.asked, [HIT])
    system, user = (m["content"] for m in prompt.messages)
    assert f"{QUESTION.question}\n{BLOCK}" in user and BLOCK not in system  # rag_brief asks it twice


def test_compare_asks_every_arm_the_same_choices_block_and_scores_the_chosen_option(tmp_path):
    answerer = _answerer(tmp_path)
    shown = {}
    for arm in ARMS:
        plan = ArmPlan(ArmConfig(name=arm, strategy=arm), generator="hf:scratch", fingerprint={"arm": arm})
        reader, retriever = RecordingReader("B. Paris"), OneHit()
        strategy = PipelineStrategy(arm, reader, PromptBuilder(STRATEGIES[arm].template),
                                    retriever=retriever if plan.retrieves else None)
        records = answerer.ask(plan, strategy, [QUESTION], "kb-state", "answer", kb_version=1)
        (prompt,) = reader.prompts
        # only the prompt shows the options: retrieval and the reader (the extractive one reads it) get it bare
        assert reader.questions == [QUESTION.question]
        assert retriever.queries == ([QUESTION.question] if plan.retrieves else [])
        user = prompt.messages[-1]["content"]
        shown[arm] = user[user.index(QUESTION.question): user.index(BLOCK) + len(BLOCK)]
        assert score_answer(QUESTION, records["mc"], retrieves=plan.retrieves)["accuracy"] == 1.0
    assert set(shown.values()) == {f"{QUESTION.question}\n{BLOCK}"}


def test_an_answer_cached_without_the_options_is_not_reused_for_the_question_with_them(tmp_path):
    answerer = _answerer(tmp_path)
    plan = ArmPlan(ArmConfig(name="closed_book", strategy="closed_book"), generator="hf:scratch",
                   fingerprint={"arm": "closed_book"})
    reader = RecordingReader("Paris")
    strategy = PipelineStrategy("closed_book", reader, PromptBuilder("closed_book"))
    plain = Question("mc", QUESTION.question, ("Paris",))
    answerer.ask(plan, strategy, [plain], "kb-state", "answer", kb_version=1)
    answerer.ask(plan, strategy, [QUESTION], "kb-state", "answer", kb_version=1)
    assert [BLOCK in p.messages[-1]["content"] for p in reader.prompts] == [False, True]


@pytest.mark.parametrize("reply", ["B", "B.", "(B)", "B)", "b", "B. Paris", "Paris", "The head office is in Paris.",
                                   "Answer: B", "B [1]\nSource: Offices"])
def test_the_letter_or_the_text_of_option_b_scores_as_option_b(reply):
    assert chosen_choice(reply, CHOICES) == "Paris"
    scores = score_answer(QUESTION, {"text": reply, "abstained": False, "citations": [], "hits": []}, retrieves=False)
    assert scores["mc_accuracy"] == scores["accuracy"] == 1.0


@pytest.mark.parametrize("reply", ["A", "A. London", "(C)", "Berlin", "C. Paris", "B. Berlin", "D", "London or Paris",
                                   ""])
def test_a_wrong_missing_or_undecided_option_scores_zero(reply):
    """A letter whose text names another option ("B. Berlin", as SmolLM2 answered "B. 480 picks per minute"
    with the gold at B), a letter with no option ("D") or two option texts without a letter choose nothing."""
    scores = score_answer(QUESTION, {"text": reply, "abstained": False, "citations": [], "hits": []}, retrieves=False)
    assert scores["mc_accuracy"] == scores["accuracy"] == 0.0


def test_a_letter_decides_when_the_text_after_it_names_no_other_option():
    assert chosen_choice("B. the one by the river", CHOICES) == "Paris"
    assert chosen_choice("A. 5,120\n\nThe answer is D. at least 5 years.", ("5,120", "480", "2", "3")) == "5,120"
    assert chosen_choice("B. Berlin", CHOICES) is None and chosen_choice("C. Paris", CHOICES) is None


def test_the_choice_is_read_from_the_first_line_not_the_question_the_model_repeats_after_it():
    """SmolLM2's reply to a handbook question whose gold option is B (EUR 85 per person)."""
    choices = ("6 hours or longer", "EUR 85 per person", "480 picks per minute", "9 December 2025")
    reply = "B. 480 picks per minute\n\nQuestion: What is the per-person cap?\nA. 6 hours or longer"
    assert chosen_choice(reply, choices) is None
    assert chosen_choice("EUR 85 per person\n\nA. 6 hours or longer", choices) == "EUR 85 per person"
    assert chosen_choice("Quote: the cap is EUR 85 per person [1]\nAnswer: B", choices) == "EUR 85 per person"


def test_a_word_that_starts_with_a_capital_is_not_read_as_a_letter():
    assert chosen_choice("A new office opened in Berlin", CHOICES) == "Berlin"
    assert chosen_choice("New York City", ("York", "New York City")) == "New York City"
    assert chosen_choice("U.S.", ("Canada", "U.S.")) == "U.S."  # U is no option's letter: read as text


def test_an_abstention_scores_zero_even_when_it_names_an_option():
    scores = score_answer(QUESTION, {"text": "B", "abstained": True, "citations": [], "hits": []}, retrieves=False)
    assert scores["accuracy"] == 0.0


def test_more_options_than_letters_are_refused():
    record = {"question": "Which?", "answers": ["o0"], "choices": [f"o{i}" for i in range(27)]}
    with pytest.raises(ValueError, match="at most 26"):
        parse_question(record, "q.jsonl:1", "line1")
