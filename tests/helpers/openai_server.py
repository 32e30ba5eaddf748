"""A real OpenAI-compatible HTTP server for tests, backed by any Generator, with failure switches."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from tailor.generate.base import Generation, GenerationConfig, Generator


@dataclass
class ServerControl:
    """Switches a test flips to make the server misbehave; `attempts` counts requests received."""

    api_key: str | None = None
    fail_429: int = 0
    retry_after: str = "1"
    fail_500: int = 0  # -1: always
    malformed: bool = False
    delay_s: float = 0.0
    attempts: int = 0


class ChatRequest(BaseModel):
    model: str
    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, Any] | None = None

    def config(self) -> GenerationConfig:
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return GenerationConfig(
            max_new_tokens=self.max_tokens or 256,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=tuple(stop),
            seed=self.seed,
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": "test"}}, status_code=status, headers=headers)


def _usage(result: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": result.tokens_in,
        "completion_tokens": result.tokens_out,
        "total_tokens": result.tokens_in + result.tokens_out,
    }


def create_app(generator: Generator, model_name: str, control: ServerControl) -> FastAPI:
    """An app serving `generator` as `model_name` at /v1/chat/completions."""
    app = FastAPI()

    @app.post("/v1/chat/completions", response_model=None)
    def chat(
        request: ChatRequest, authorization: str | None = Header(default=None)
    ) -> JSONResponse | StreamingResponse | dict[str, Any]:
        control.attempts += 1
        time.sleep(control.delay_s)
        if control.api_key and authorization != f"Bearer {control.api_key}":
            return _error(401, "Incorrect API key provided")
        if control.fail_429:
            control.fail_429 -= 1
            return _error(429, "Rate limit reached", {"Retry-After": control.retry_after})
        if control.fail_500:
            if control.fail_500 > 0:
                control.fail_500 -= 1
            return _error(500, "The server had an error")
        if request.model != model_name:
            return _error(404, f"The model `{request.model}` does not exist")
        if control.malformed:
            return {"object": "chat.completion", "result": "no choices here"}
        if request.stream:
            usage = bool(request.stream_options and request.stream_options.get("include_usage"))
            return StreamingResponse(_events(generator, request, usage), media_type="text/event-stream")
        result = generator.generate(request.messages, request.config())
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": result.text},
                    "finish_reason": result.finish_reason,
                }
            ],
            "usage": _usage(result),
        }

    return app


def _events(generator: Generator, request: ChatRequest, include_usage: bool) -> Iterator[str]:
    head = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "model": request.model}

    def event(choices: list[dict[str, Any]], **extra: Any) -> str:
        return f"data: {json.dumps({**head, 'choices': choices, **extra})}\n\n"

    yield event([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    pieces = generator.stream(request.messages, request.config())
    while True:
        try:
            piece = next(pieces)
        except StopIteration as done:
            result: Generation = done.value
            break
        yield event([{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
    yield event([{"index": 0, "delta": {}, "finish_reason": result.finish_reason}])
    if include_usage:
        yield event([], usage=_usage(result))
    yield "data: [DONE]\n\n"


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free loopback port in a thread; yield its /v1 base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test OpenAI server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
