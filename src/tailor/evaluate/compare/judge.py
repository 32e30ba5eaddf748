"""An optional LLM judge (any generator): it must answer JSON {"correct": true|false, "reason": "..."}.

Invalid JSON is retried; a judgement that stays invalid is reported as failed, never scored as wrong
and never silently averaged in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tailor.evaluate.compare.answering import ArmAnswers
from tailor.evaluate.compare.cache import AnswerCache, cache_key
from tailor.evaluate.compare.context import RunContext
from tailor.evaluate.compare.questions import Question
from tailor.evaluate.compare.scoring import committed_answer
from tailor.generate.base import GenerationConfig, GeneratorError
from tailor.generate.registry import FACTORIES, make_generator

JUDGE_SYSTEM = (
    "You grade answers to questions against reference answers. Reply with one JSON object and nothing "
    'else: {"correct": true or false, "reason": "<one short sentence>"}. An answer is correct when it '
    "states the same fact as one of the references, in any wording; extra correct detail is fine."
)
JSON_OBJECT = re.compile(r"\{.*\}", re.DOTALL)


@dataclass(frozen=True)
class Verdict:
    correct: bool | None  # None: the judge failed to give a valid judgement
    reason: str
    attempts: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_verdict(text: str) -> Verdict | None:
    """The judgement in a reply, or None when the reply holds no valid one."""
    match = JSON_OBJECT.search(text)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("correct"), bool):
        return None
    return Verdict(data["correct"], str(data.get("reason", "")), 0)


def check_judge_spec(spec: str) -> str:
    """`spec` when it names a generator kind (`hf:...`, `openai:...`); a ValueError naming `judge` otherwise,
    so that a misspelt judge is refused before any question is answered, not after."""
    kind, sep, _ = spec.partition(":")
    if kind not in FACTORIES or (kind != "hf" and not sep):
        known = ", ".join(f"{k}:..." for k in FACTORIES)
        raise ValueError(f"judge: {spec!r} is not a generator spec; expected one of {known}")
    return spec


class Judge:
    def __init__(self, spec: str, retries: int = 2) -> None:
        try:
            self.generator = make_generator(check_judge_spec(spec))
        except GeneratorError as exc:
            raise ValueError(f"judge: {exc}") from None
        self.retries = retries
        self.config = GenerationConfig(max_new_tokens=96, temperature=0.0)

    def judge(self, question: str, references: list[str], answer: str) -> Verdict:
        messages = [
            {"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": json.dumps({"question": question, "references": references,
                                                    "answer": answer}, ensure_ascii=False)},
        ]
        problem = "no valid JSON verdict"
        for attempt in range(1, self.retries + 2):
            try:
                reply = self.generator.generate(messages, self.config).text
            except GeneratorError as exc:
                problem = f"generator error: {exc}"
                continue
            verdict = parse_verdict(reply)
            if verdict is not None:
                return Verdict(verdict.correct, verdict.reason, attempt)
            problem = f"no valid JSON verdict in {reply[:80]!r}"
        return Verdict(None, problem, self.retries + 1)


def judge_answers(ctx: RunContext, cache: AnswerCache, questions: Sequence[Question],
                  answers: dict[str, ArmAnswers]) -> dict[str, Any] | None:
    """`judge_accuracy` added to the scores of each arm's answerable questions (verdicts cached like answers);
    per arm, how many were judged and how many judgements failed."""
    if not ctx.config.judge:
        return None
    judge = Judge(ctx.config.judge, retries=ctx.config.judge_retries)
    info: dict[str, Any] = {"generator": ctx.config.judge, "arms": {}}
    for name, arm_answers in answers.items():
        answerable = [q for q in questions if q.answerable and q.id in arm_answers]
        judged = failed = 0
        for done, question in enumerate(answerable):
            answer = arm_answers[question.id]
            committed = committed_answer(answer.text)  # what every other correctness figure reads
            key = cache_key("judge", ctx.config.judge, question.question, question.answers, committed)
            verdict = cache.get(key)
            if verdict is None:
                verdict = judge.judge(question.question, list(question.answers), committed).to_dict()
                cache.put(key, f"judge:{name}", verdict)
            if verdict["correct"] is None:
                failed += 1
            else:
                judged += 1
                answer.scores["judge_accuracy"] = float(verdict["correct"])
            ctx.progress(f"judge: {name}", done + 1, len(answerable))
        info["arms"][name] = {"judged": judged, "failed": failed}
    return info
