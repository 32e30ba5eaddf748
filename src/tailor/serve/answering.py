"""Answering for the server: model names -> cached strategies, per-request settings, recording.

A model name is a strategy (`rag`, `closed_book`) or a strategy with a registry adapter
(`finetuned:<adapter>`, `hybrid:<adapter>`, where <adapter> is `name`, `name@3` or `name@latest`).
Strategies are built once per (strategy, adapter version) and kept: a model is loaded once per
server, not per request. Every answer, from every route, leaves through `Answerer._finish`, the one
place where it is measured and recorded (the audit trail, `tailor.audit.AuditLog`); every adapter is
checked in `StrategyCatalog._adapter` (`tailor.finetune.registry.require_adapter_access`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, replace
from typing import Protocol

import tailor.finetune.strategies  # noqa: F401  (registers the finetuned and hybrid strategies)
from tailor.finetune.registry import AdapterAccessError, AdapterEntry, AdapterRegistry, require_adapter_access
from tailor.generate.readers import LLMReader
from tailor.generate.strategies import (
    STRATEGIES,
    AskConfig,
    KBRetriever,
    PipelineStrategy,
    Strategy,
    make_strategy,
)
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.records import Answer
from tailor.serve.keys import ApiKey
from tailor.serve.metrics import ServeMetrics


class AnswerRecorder(Protocol):
    """Keeps a record of each answer given and each question refused (`tailor.audit.AuditLog` is one);
    the caller is a key id."""

    def record(
        self, answer: Answer, *, caller: str | None, groups: Sequence[str], kb_version: int | None,
        adapter: str | None = None, outcome: str = "answered", reason: str | None = None,
    ) -> None: ...

    def record_refusal(
        self, question: str, reason: str, *, strategy: str, generator: str, caller: str | None,
        groups: Sequence[str], kb_version: int | None, adapter: str | None = None,
    ) -> None: ...


AdapterCheck = Callable[[AdapterEntry, Sequence[str]], None]
ADAPTER_REF = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(@(\d+|latest|promoted))?$")


def adapter_refusal(exc: PermissionError) -> str:
    """Why a caller may not use an adapter, naming neither the groups it lacks nor the adapter's."""
    if isinstance(exc, AdapterAccessError):
        return f"adapter {exc.ref} was trained on documents of groups this key does not all hold"
    return "this key may not use that adapter"


@dataclass(frozen=True)
class ModelName:
    strategy: str
    adapter: str | None = None

    @classmethod
    def parse(cls, text: str, field: str = "model") -> ModelName:
        strategy, colon, adapter = text.strip().partition(":")
        spec = STRATEGIES.get(strategy)
        if spec is None:
            known = ", ".join(f"{n}:<adapter>" if s.needs_adapter else n for n, s in STRATEGIES.items())
            raise ValueError(f"{field}: unknown strategy {text!r} (known: {known})")
        if spec.needs_adapter and not adapter:
            raise ValueError(f"{field}: {strategy} needs an adapter: {strategy}:<adapter>")
        if colon and not spec.needs_adapter:
            raise ValueError(f"{field}: {strategy} takes no adapter")
        if adapter and not ADAPTER_REF.match(adapter):  # a registry name, never a path on the server
            raise ValueError(f"{field}: {adapter!r} is not an adapter reference (name, name@3, name@latest)")
        return cls(strategy, adapter or None)


@dataclass(frozen=True)
class Resolved:
    strategy: Strategy
    adapter: str | None  # the adapter version answering ("name@3"), for the record


class StrategyCatalog:
    """Builds each (strategy, adapter version) once; checks every adapter against the caller's groups."""

    def __init__(
        self, kb: KnowledgeBase, ask: AskConfig, registry: AdapterRegistry, check: AdapterCheck = require_adapter_access
    ) -> None:
        self.kb = kb
        self.ask = ask
        self.registry = registry
        self.check = check
        self._built: dict[tuple[str, str | None], Strategy] = {}
        self._lock = threading.Lock()

    def resolve(self, name: ModelName, groups: Sequence[str]) -> Resolved:
        entry = self._adapter(name.adapter, groups) if name.adapter else None
        key = (name.strategy, entry.ref if entry else None)
        with self._lock:
            if key not in self._built:
                self._built[key] = make_strategy(self._config(name.strategy, entry), self.kb)
            return Resolved(self._built[key], key[1])

    def built(self) -> list[tuple[str, str | None]]:
        """The (strategy, adapter version) pairs built so far: each holds its loaded model."""
        with self._lock:
            return list(self._built)

    def adapters(self, groups: Sequence[str]) -> list[AdapterEntry]:
        """The registry's adapters (promoted, else latest version) that `groups` may use."""
        usable = []
        for adapter in self.registry.names():
            try:
                usable.append(self._adapter(adapter, groups))
            except (LookupError, ValueError, AdapterAccessError):
                continue
        return usable

    def _adapter(self, ref: str, groups: Sequence[str]) -> AdapterEntry:
        try:
            entry = self.registry.get(ref)
        except KeyError as exc:
            raise LookupError(f"no adapter {ref!r} in the registry") from exc
        if entry.manifest.get("weights", "adapter") != "adapter":
            raise ValueError(f"{entry.ref} is a full fine-tune, not an adapter; serve it as an hf: model")
        self.check(entry, groups)
        return entry

    def _config(self, strategy: str, entry: AdapterEntry | None) -> AskConfig:
        if entry is None:
            return self.ask.model_copy(update={"strategy": strategy})
        return self.ask.model_copy(update={
            "strategy": strategy, "generator": f"hf:{entry.base_model}", "adapter": str(entry.weights),
            "template": None,  # the strategy's own template: the format the adapter was trained on
        })


@dataclass(frozen=True)
class AskSettings:
    """What one request may change of a cached strategy without rebuilding it."""

    top_k: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None


def with_settings(strategy: Strategy, settings: AskSettings) -> Strategy:
    """A light copy of `strategy` with the request's top_k and decoding settings (models are shared)."""
    if not isinstance(strategy, PipelineStrategy):
        return strategy
    changes: dict[str, object] = {}
    retriever = strategy.retriever
    if settings.top_k and retriever is not None and settings.top_k != retriever.top_k:
        changes["retriever"] = KBRetriever(retriever.kb, settings.top_k, retriever.mode)
    reader = strategy.reader
    if isinstance(reader, LLMReader) and (settings.max_tokens or settings.temperature is not None):
        config = replace(
            reader.config,
            max_new_tokens=settings.max_tokens or reader.config.max_new_tokens,
            temperature=reader.config.temperature if settings.temperature is None else settings.temperature,
        )
        changes["reader"] = LLMReader(reader.generator, reader.checker, config)
    return replace(strategy, **changes) if changes else strategy


class Answerer:
    """Answers as a caller (always within the caller's groups), then measures and records the answer."""

    def __init__(self, catalog: StrategyCatalog, metrics: ServeMetrics, recorder: AnswerRecorder) -> None:
        self.catalog = catalog
        self.metrics = metrics
        self.recorder = recorder

    def prepare(self, model: ModelName, caller: ApiKey, settings: AskSettings, question: str) -> Resolved:
        """Resolve before answering, so that a bad model or a forbidden adapter fails before any output;
        a forbidden adapter is recorded as a refusal of `question`."""
        try:
            resolved = self.catalog.resolve(model, caller.groups)
        except PermissionError as exc:
            self.recorder.record_refusal(question, adapter_refusal(exc), strategy=model.strategy, generator="",
                                         caller=caller.id, groups=caller.groups,
                                         kb_version=self.catalog.kb.version, adapter=model.adapter)
            raise
        return replace(resolved, strategy=with_settings(resolved.strategy, settings))

    def answer(self, question: str, resolved: Resolved, caller: ApiKey) -> Answer:
        return self._finish(resolved.strategy.answer(question, caller.groups), resolved, caller)

    def stream(self, question: str, resolved: Resolved, caller: ApiKey) -> PyGenerator[str, None, Answer]:
        """Yield the answer's text; a stream closed before its end is recorded as interrupted."""

        def interrupted(partial: Answer) -> None:
            self.recorder.record(partial, caller=caller.id, groups=caller.groups, kb_version=self.catalog.kb.version,
                                 adapter=resolved.adapter, outcome="interrupted",
                                 reason="the stream was closed before the answer was complete")

        answer = yield from resolved.strategy.stream(question, caller.groups, on_close=interrupted)
        return self._finish(answer, resolved, caller)

    def _finish(self, answer: Answer, resolved: Resolved, caller: ApiKey) -> Answer:
        self.metrics.observe_answer(answer)
        self.recorder.record(answer, caller=caller.id, groups=caller.groups, kb_version=self.catalog.kb.version,
                             adapter=resolved.adapter)
        return answer
