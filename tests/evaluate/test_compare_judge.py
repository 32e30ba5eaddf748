"""The LLM judge against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import json

from helpers.openai_server import ServerControl, create_app, serve
from helpers.tiny_llm import build_tiny_llama
from tailor.evaluate.compare.judge import Judge, parse_verdict
from tailor.generate.base import Generation
from tailor.generate.hf import HFGenerator


class ScriptedModel:
    """Replies from a script, one per request: the judge's validation and retries are what is tested."""

    name = "scripted"

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def generate(self, messages, config=None) -> Generation:
        self.prompts.append(messages)
        text = self.replies.pop(0) if self.replies else "no more replies"
        return Generation(text, tokens_in=10, tokens_out=5, finish_reason="stop")

    def stream(self, messages, config=None):
        result = self.generate(messages, config)
        yield result.text
        return result


def test_parse_verdict_accepts_only_a_json_object_with_a_boolean():
    assert parse_verdict('Here: {"correct": true, "reason": "same fact"}').correct is True
    assert parse_verdict('{"correct": "yes"}') is None
    assert parse_verdict("correct") is None
    assert parse_verdict("{broken") is None


def test_invalid_json_is_retried_then_the_valid_verdict_counts():
    model = ScriptedModel(["I think it is right!", '{"correct": false, "reason": "different price"}'])
    with serve(create_app(model, "judge", ServerControl())) as base_url:
        verdict = Judge(f"openai:{base_url}#judge", retries=2).judge("Price?", ["EUR 180"], "EUR 200")
    assert (verdict.correct, verdict.attempts) == (False, 2)
    sent = json.loads(model.prompts[0][1]["content"])
    assert sent == {"question": "Price?", "references": ["EUR 180"], "answer": "EUR 200"}


def test_a_judgement_that_stays_invalid_is_failed_not_wrong():
    model = ScriptedModel(["nope", "still nope", "no"])
    with serve(create_app(model, "judge", ServerControl())) as base_url:
        verdict = Judge(f"openai:{base_url}#judge", retries=1).judge("Q?", ["A"], "A")
    assert verdict.correct is None and verdict.attempts == 2 and "no valid JSON" in verdict.reason


def test_server_errors_are_reported_as_a_failed_judgement(tmp_path):
    control = ServerControl(fail_500=-1)
    with serve(create_app(ScriptedModel([]), "judge", control)) as base_url:
        judge = Judge(f"openai:{base_url}#judge", retries=0)
        judge.generator.backoff_s = 0.01
        verdict = judge.judge("Q?", ["A"], "A")
    assert verdict.correct is None and "generator error" in verdict.reason


def test_a_tiny_real_model_as_judge_yields_failed_judgements(tmp_path):
    """A model that cannot follow the instruction produces failures, which are counted, never scored."""
    generator = HFGenerator(str(build_tiny_llama(tmp_path / "tiny")))
    with serve(create_app(generator, "tiny", ServerControl())) as base_url:
        verdict = Judge(f"openai:{base_url}#tiny", retries=0).judge("Q?", ["A"], "A")
    assert verdict.correct is None
