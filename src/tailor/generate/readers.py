"""Readers turn a question and its prompt into a cited answer: the step a strategy runs after retrieval.

An LLM reader sends the rendered messages to a `Generator`, drops any sentence that repeats its system
prompt (tailor.generate.echo) and checks the [n] citations of what comes back; the extractive reader
(tailor.generate.extractive) quotes the context directly.
"""

from __future__ import annotations

from collections.abc import Generator as PyGenerator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from tailor.generate.base import DEFAULT_CONFIG, Generation, GenerationConfig, Generator, generate_many
from tailor.generate.citations import CitationChecker, is_abstention, markers
from tailor.generate.echo import drop_instruction_echo
from tailor.generate.prompts import Prompt
from tailor.records import Citation


@dataclass
class Reading:
    """A reader's answer before the strategy adds hits and timings."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    tokens_in: int = 0
    tokens_out: int = 0
    dropped_markers: list[int] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


class Reader(Protocol):
    """`stream` yields text pieces and returns the Reading: `reading = yield from reader.stream(...)`."""

    name: str

    def read(self, question: str, prompt: Prompt) -> Reading: ...

    def read_batch(self, questions: Sequence[str], prompts: Sequence[Prompt]) -> list[Reading]: ...

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]: ...


class LLMReader:
    """Any `Generator` (hf, openai, ...) prompted with the template; its [n] citations checked afterwards,
    or, when the answer has none, attributed to the blocks that support it (`CitationChecker.attribute`)."""

    def __init__(
        self, generator: Generator, checker: CitationChecker, config: GenerationConfig = DEFAULT_CONFIG
    ) -> None:
        self.generator = generator
        self.checker = checker
        self.config = config
        self.name = generator.name

    def read(self, question: str, prompt: Prompt) -> Reading:
        return self._finish(self.generator.generate(prompt.messages, self.config), prompt)

    def read_batch(self, questions: Sequence[str], prompts: Sequence[Prompt]) -> list[Reading]:
        generations = generate_many(self.generator, [p.messages for p in prompts], self.config)
        return [self._finish(g, p) for g, p in zip(generations, prompts, strict=True)]

    def stream(self, question: str, prompt: Prompt) -> PyGenerator[str, None, Reading]:
        generation = yield from self.generator.stream(prompt.messages, self.config)  # type: ignore[misc]
        return self._finish(generation, prompt)

    def _finish(self, generation: Generation, prompt: Prompt) -> Reading:
        text = generation.text.strip()
        tokens = {"tokens_in": generation.tokens_in, "tokens_out": generation.tokens_out}
        if is_abstention(text):  # the reply the instructions ask for: not an echo of them
            return Reading(text=text, abstained=True, **tokens)
        text = drop_instruction_echo(text, next((m["content"] for m in prompt.messages if m["role"] == "system"), ""))
        if not text:  # the reply only repeated the instructions: no answer
            return Reading(text="I don't know.", abstained=True, **tokens)
        checked = self.checker.check(text, prompt.hits)
        if prompt.hits and not markers(text):
            checked = self.checker.attribute(text, prompt.hits)
        return Reading(
            text=text,
            citations=checked.citations,
            dropped_markers=checked.dropped_markers,
            unsupported=checked.unsupported,
            **tokens,
        )
