"""The generator interface shared by every LLM backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Generation:
    """A finished completion; finish_reason is "stop" (EOS or stop string) or "length"."""

    text: str
    tokens_in: int
    tokens_out: int
    finish_reason: str


DEFAULT_CONFIG = GenerationConfig()


class Generator(Protocol):
    """Turns OpenAI-style chat messages into text.

    Both built-in backends implement `stream` as a generator whose return value is the final
    `Generation`, so `result = yield from gen.stream(...)` also gets the token counts.
    """

    name: str

    def generate(self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG) -> Generation: ...

    def stream(self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG) -> Iterator[str]: ...


def generate_many(
    generator: Generator, conversations: Sequence[list[Message]], config: GenerationConfig = DEFAULT_CONFIG
) -> list[Generation]:
    """Every conversation completed: in batches where the backend has `generate_batch` (a local model
    pays for its weights once per step, not once per question), one by one otherwise."""
    batched = getattr(generator, "generate_batch", None)
    if batched is not None:
        return batched(conversations, config)
    return [generator.generate(messages, config) for messages in conversations]


class GeneratorError(RuntimeError):
    """A generator failed for a reason the user can act on (bad path, auth, network, ...)."""


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """Cut text at the earliest stop string; also say whether one was found."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


class StopFilter:
    """Filters streamed text pieces so that nothing from a stop string onward is emitted.

    Text that could still turn into a stop string is held back until it is decided.
    """

    def __init__(self, stop: tuple[str, ...]) -> None:
        self._stop = tuple(s for s in stop if s)
        self._pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """Return the part of the text so far that is safe to emit."""
        if self.stopped:
            return ""
        text, self.stopped = cut_at_stop(self._pending + piece, self._stop)
        if self.stopped:
            self._pending = ""
            return text
        hold = max((_overlap(text, s) for s in self._stop), default=0)
        self._pending = text[len(text) - hold :]
        return text[: len(text) - hold]

    def flush(self) -> str:
        """Return whatever is still held back once the stream has ended."""
        rest, self._pending = self._pending, ""
        return "" if self.stopped else rest


def _overlap(text: str, stop: str) -> int:
    """Length of the longest suffix of text that is a proper prefix of stop."""
    for n in range(min(len(text), len(stop) - 1), 0, -1):
        if stop.startswith(text[-n:]):
            return n
    return 0
