"""POST /v1/ask: the Answer record, or with `stream: true` its text as SSE `token` events and then
the whole answer (citations, timings) as one `answer` event (or an `error` event)."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from tailor.serve.answering import AskSettings
from tailor.serve.auth import Caller, State
from tailor.serve.errors import error_body
from tailor.serve.keys import ApiKey
from tailor.serve.routes.answers import (
    StreamEvent,
    answer,
    answer_record,
    check_question,
    prepare,
    stream_events,
)
from tailor.serve.schemas import AnswerOut, AskRequest

router = APIRouter(prefix="/v1", tags=["answers"])

SSE_DOC = {200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                 "description": "With stream: true, events `token` {text}, then `answer` (an AnswerOut) or `error`"}}


def _sse(event: str, payload: object) -> str:
    return f"event: {event}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _ask_events(events: Iterator[StreamEvent], model: str, adapter: str | None, caller: ApiKey) -> Iterator[str]:
    for event in events:
        if event.text is not None:
            yield _sse("token", {"text": event.text})
        elif event.answer is not None:
            yield _sse("answer", {**answer_record(event.answer, caller, adapter), "model": model, "adapter": adapter})
        else:
            yield _sse("error", error_body(500, event.error or "the answer failed"))


@router.post("/ask", response_model=AnswerOut, responses=SSE_DOC)
async def ask(body: AskRequest, caller: Caller, state: State) -> JSONResponse | StreamingResponse:
    """Answer a question with numbered citations, within the caller's access groups."""
    question = check_question(state, body.question, "question")
    settings = AskSettings(top_k=body.top_k, max_tokens=body.max_tokens, temperature=body.temperature)
    model = body.strategy or state.settings.serve.default_strategy
    resolved = prepare(state, model, "strategy", caller, settings, question)
    if body.stream:
        events = stream_events(state, question, resolved, caller)
        return StreamingResponse(_ask_events(events, model, resolved.adapter, caller), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})
    result = await answer(state, question, resolved, caller)
    # The record is already checked; JSONResponse skips a second validation against AnswerOut (the schema).
    return JSONResponse({**answer_record(result, caller, resolved.adapter), "model": model, "adapter": resolved.adapter})
