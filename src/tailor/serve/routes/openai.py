"""The OpenAI-compatible surface: POST /v1/chat/completions and GET /v1/models.

`model` names a strategy; the question is the last user message (earlier turns and system
prompts are not instructions to the server). Answers of strategies that retrieve carry their
citations in an extra top-level `citations` field (on the last chunk when streaming), and
`tailor` holds abstention, timings and the adapter version.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from tailor.generate.strategies import STRATEGIES
from tailor.records import Answer
from tailor.serve.answering import AskSettings
from tailor.serve.auth import Caller, State
from tailor.serve.errors import ApiError, error_body
from tailor.serve.keys import ApiKey
from tailor.serve.routes.answers import (
    StreamEvent,
    answer,
    answer_record,
    check_question,
    prepare,
    stream_events,
)
from tailor.serve.schemas import ChatRequest

router = APIRouter(prefix="/v1", tags=["openai"])


def _question(body: ChatRequest) -> str:
    for message in reversed(body.messages):
        if message.role == "user":
            return message.text
    raise ApiError(422, "messages: no user message to answer", "messages")


def _usage(answer: Answer) -> dict[str, int]:
    return {"prompt_tokens": answer.tokens_in, "completion_tokens": answer.tokens_out,
            "total_tokens": answer.tokens_in + answer.tokens_out}


def _extras(answer: Answer, adapter: str | None, caller: ApiKey) -> dict[str, Any]:
    record = answer_record(answer, caller, adapter)
    return {
        "citations": record["citations"],
        "tailor": {"abstained": answer.abstained, "strategy": answer.strategy, "generator": record["generator"],
                   "adapter": adapter, "timings_ms": answer.timings_ms},
    }


def _head(model: str) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}


def _chunks(events: Iterator[StreamEvent], model: str, adapter: str | None, usage: bool,
            caller: ApiKey) -> Iterator[str]:
    head = {**_head(model), "object": "chat.completion.chunk"}

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        return f"data: {json.dumps({**head, 'choices': choices, **extra}, ensure_ascii=False)}\n\n"

    yield chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    for event in events:
        if event.text is not None:
            yield chunk([{"index": 0, "delta": {"content": event.text}, "finish_reason": None}])
        elif event.answer is not None:
            yield chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], **_extras(event.answer, adapter, caller))
            if usage:
                yield chunk([], usage=_usage(event.answer))
        else:
            yield f"data: {json.dumps(error_body(500, event.error or 'the answer failed'))}\n\n"
    yield "data: [DONE]\n\n"


@router.post("/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, caller: Caller, state: State) -> dict[str, Any] | StreamingResponse:
    """OpenAI chat completions answered by a strategy, within the caller's access groups."""
    question = check_question(state, _question(body), "messages")
    settings = AskSettings(max_tokens=body.max_completion_tokens or body.max_tokens, temperature=body.temperature)
    resolved = prepare(state, body.model, "model", caller, settings, question)
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        events = stream_events(state, question, resolved, caller)
        return StreamingResponse(_chunks(events, body.model, resolved.adapter, usage, caller),
                                 media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    result = await answer(state, question, resolved, caller)
    return {
        **_head(body.model),
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text}, "finish_reason": "stop"}],
        "usage": _usage(result),
        **_extras(result, resolved.adapter, caller),
    }


@router.get("/models")
def models(caller: Caller, state: State) -> dict[str, Any]:
    """The model names this key may use: strategies, and adapter strategies for the adapters it may use."""
    adapters = state.answerer.catalog.adapters(caller.groups)
    names = [(name, spec) for name, spec in STRATEGIES.items() if not spec.needs_adapter]
    names += [(f"{name}:{e.name}", spec) for name, spec in STRATEGIES.items() if spec.needs_adapter for e in adapters]
    return {"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "tailor", "description": spec.description,
         "retrieves": spec.retrieves}
        for name, spec in names
    ]}
