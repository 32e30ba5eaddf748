"""What the answering routes share: resolve a model for a caller, answer in a thread under the time
limit, drive a stream into events, and show the answer as the caller may see it (`answer_record`).
Errors become the 4xx/5xx a client can act on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import anyio

from tailor.generate.base import GeneratorError
from tailor.records import Answer
from tailor.serve.answering import AskSettings, ModelName, Resolved, adapter_refusal
from tailor.serve.errors import ApiError, invalid
from tailor.serve.keys import ApiKey
from tailor.serve.state import ServeState


def public_generator(name: str, adapter: str | None) -> str:
    """A generator's name without what locates it on the server (folders, endpoint URLs): its kind and
    model name, and the adapter by its registry reference."""
    kind, _, target = name.partition("+adapter:")[0].partition(":")
    where, _, model = target.partition("#")
    shown = f"{kind}:{model or PurePath(where).name}" if target else kind
    return f"{shown}+adapter:{adapter}" if adapter else shown


def answer_record(answer: Answer, caller: ApiKey, adapter: str | None) -> dict[str, Any]:
    """The answer as `caller` may see it. Where a document and a model live on the server is for admin keys
    only: another key gets each citation's and hit's document id for its source (as /v1/documents does)
    and the generator by name."""
    record = answer.to_dict()
    if not caller.admin:
        for citation in record["citations"]:
            citation["source"] = citation["doc_id"]
        for hit in record["hits"]:
            hit["doc_source"] = hit["chunk"]["doc_id"]
        record["generator"] = public_generator(record["generator"], adapter)
    return record


def check_question(state: ServeState, question: str, field: str) -> str:
    limit = state.settings.serve.limits.max_question_chars
    if not question.strip():
        raise ApiError(422, f"{field}: the question is empty", field)
    if len(question) > limit:
        raise ApiError(422, f"{field}: the question has {len(question)} characters, at most {limit}", field)
    return question


def prepare(
    state: ServeState, model: str | None, field: str, caller: ApiKey, settings: AskSettings, question: str
) -> Resolved:
    """The caller's strategy for `model`; 422 bad name, 404 unknown adapter, 403 adapter refused (and
    recorded in the audit trail as a refusal of `question`)."""
    try:
        name = ModelName.parse(model or state.settings.serve.default_strategy, field)
    except ValueError as exc:
        raise invalid(exc) from exc
    try:
        return state.answerer.prepare(name, caller, settings, question)
    except PermissionError as exc:
        raise ApiError(403, f"{field}: {adapter_refusal(exc)}", field) from exc
    except LookupError as exc:
        raise ApiError(404, f"{field}: {exc}", field) from exc
    except ValueError as exc:
        raise ApiError(422, f"{field}: {exc}", field) from exc
    except GeneratorError as exc:
        raise ApiError(502, f"{field}: the generator cannot be built: {exc}", field) from exc


async def answer(state: ServeState, question: str, resolved: Resolved, caller: ApiKey) -> Answer:
    """Answer in a worker thread; 504 past the time limit, 502 when the generator fails."""
    timeout = state.settings.serve.limits.answer_timeout_s
    try:
        with anyio.fail_after(timeout):  # the thread is abandoned, not stopped: it finishes in the background
            return await anyio.to_thread.run_sync(
                state.answerer.answer, question, resolved, caller, abandon_on_cancel=True
            )
    except TimeoutError as exc:
        raise ApiError(504, f"no answer within {timeout:g}s") from exc
    except GeneratorError as exc:
        raise ApiError(502, f"generator failed: {exc}") from exc
    except ValueError as exc:
        raise invalid(exc) from exc


@dataclass(frozen=True)
class StreamEvent:
    """A piece of answer text, then the finished answer, or an error that ended the stream."""

    text: str | None = None
    answer: Answer | None = None
    error: str | None = None


def stream_events(state: ServeState, question: str, resolved: Resolved, caller: ApiKey) -> Iterator[StreamEvent]:
    """Iterated in a worker thread by the response; ends with an `answer` or an `error` event."""
    deadline = time.monotonic() + state.settings.serve.limits.answer_timeout_s
    pieces = state.answerer.stream(question, resolved, caller)
    try:
        while True:
            if time.monotonic() > deadline:
                yield StreamEvent(error=f"no answer within {state.settings.serve.limits.answer_timeout_s:g}s")
                return
            try:
                yield StreamEvent(text=next(pieces))
            except StopIteration as done:
                yield StreamEvent(answer=done.value)
                return
    except (GeneratorError, ValueError) as exc:
        yield StreamEvent(error=str(exc))
    finally:
        pieces.close()
