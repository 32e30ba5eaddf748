"""Any server that speaks the OpenAI chat-completions API (OpenAI, vLLM, llama.cpp, Ollama, ...).

What a server answers besides a completion (an error body, a malformed reply) is never put into an error
message: messages reach callers of `tailor serve` (a compare report's skip reasons, an answer's 502), so
they carry the HTTP status and a short reason, and the body goes to the log (`tailor.generate`).
"""

from __future__ import annotations

import email.utils
import json
import logging
import os
import time
from collections.abc import Generator as PyGenerator
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import httpx

from tailor.generate.base import (
    DEFAULT_CONFIG,
    Generation,
    GenerationConfig,
    GeneratorError,
    Message,
    StopFilter,
    cut_at_stop,
)

MAX_RETRY_AFTER_S = 60.0
log = logging.getLogger("tailor.generate")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or HTTP date), if any."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and "message" in error:
        return str(error["message"])
    return str(error or (body.get("detail") if isinstance(body, dict) else None) or body)[:300]


def _finish_reason(value: object) -> str:
    return "length" if value == "length" else "stop"


class OpenAICompatGenerator:
    """Chat completions over HTTP with bounded retries on 429, 5xx and connection errors."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        timeout_s: float = 60,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        label: str | None = None,
    ) -> None:
        """`api_key_env`: the env var whose value is sent as the bearer key (None: no key); `label`: what
        messages and the generator's name call the server (a named endpoint: its name, not its URL)."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.label = label or self.base_url
        self.name = f"openai:{self.label}#{model}"
        self._client = httpx.Client(timeout=timeout_s)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _logged(self, what: str, body: str) -> None:
        log.warning("%s (%s): %s", what, self.base_url, body[:2000])

    def _payload(self, messages: list[Message], config: GenerationConfig, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": config.max_new_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stream": stream,
        }
        if config.stop:
            payload["stop"] = list(config.stop)
        if config.seed is not None:
            payload["seed"] = config.seed
        if stream:
            payload["stream_options"] = {"include_usage": True}
        return payload

    def _status_error(self, response: httpx.Response, attempts: int) -> GeneratorError:
        code = response.status_code
        self._logged(f"{self.label} answered HTTP {code}", _server_message(response))
        if code in (401, 403):
            key = f"${self.api_key_env}" if self.api_key_env else "its key (none is configured)"
            unset = " (it is not set)" if self.api_key_env and not os.environ.get(self.api_key_env) else ""
            return GeneratorError(f"authentication failed for {self.label}: check {key}{unset} [HTTP {code}]")
        if code == 404:
            return GeneratorError(
                f"{self.label} answered 404 for model {self.model!r}; check the base URL and model name"
            )
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return GeneratorError(f"{self.label} answered HTTP {code}{tries}")

    def _broken(self, exc: httpx.TransportError) -> GeneratorError:
        if isinstance(exc, httpx.TimeoutException):
            return GeneratorError(f"{self.label} did not answer within {self.timeout_s}s")
        return GeneratorError(f"connection to {self.label} failed: {exc}")

    def _wait(self, attempt: int, response: httpx.Response | None = None) -> None:
        asked = _retry_after(response) if response is not None else None
        time.sleep(min(asked, MAX_RETRY_AFTER_S) if asked is not None else self.backoff_s * 2**attempt)

    def _send(self, payload: dict[str, Any]) -> httpx.Response:
        """POST with retries; return an open, successful (2xx) streaming response."""
        try:
            request = self._client.build_request(
                "POST", f"{self.base_url}/chat/completions", json=payload, headers=self._headers()
            )
        except httpx.InvalidURL as exc:
            raise GeneratorError(f"invalid base URL of {self.label}: {exc}") from exc
        attempt = 0
        while True:
            last = attempt >= self.max_retries
            try:
                response = self._client.send(request, stream=True)
            except httpx.UnsupportedProtocol as exc:
                raise GeneratorError(f"invalid base URL of {self.label}: {exc}") from exc
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if last:
                    raise GeneratorError(f"cannot connect to {self.label}: {exc}") from exc
                self._wait(attempt)
            except httpx.TransportError as exc:
                if last or isinstance(exc, httpx.TimeoutException):
                    raise self._broken(exc) from exc
                self._wait(attempt)
            else:
                if not response.is_error:
                    return response
                response.read()
                response.close()
                if last or not (response.status_code == 429 or response.status_code >= 500):
                    raise self._status_error(response, attempt + 1)
                self._wait(attempt, response)
            attempt += 1

    def generate(self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG) -> Generation:
        """Complete the conversation with one non-streaming request."""
        with closing(self._send(self._payload(messages, config, stream=False))) as response:
            try:
                response.read()
                body = response.json()
                choice = body["choices"][0]
                text = choice["message"].get("content") or ""
            except httpx.TransportError as exc:
                raise self._broken(exc) from exc
            except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                self._logged(f"malformed response from {self.label}", response.text)
                raise GeneratorError(f"malformed response from {self.label}: no chat completion in it") from exc
        text, hit_stop = cut_at_stop(text, config.stop)
        usage = body.get("usage") or {}
        return Generation(
            text=text,
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            finish_reason="stop" if hit_stop else _finish_reason(choice.get("finish_reason")),
        )

    def stream(
        self, messages: list[Message], config: GenerationConfig = DEFAULT_CONFIG
    ) -> PyGenerator[str, None, Generation]:
        """Yield content deltas from the SSE stream; the generator returns the final Generation."""
        stop = StopFilter(config.stop)
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        finish = "stop"
        with closing(self._send(self._payload(messages, config, stream=True))) as response:
            for chunk in self._chunks(response):
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices") or []:
                    if reason := choice.get("finish_reason"):
                        finish = _finish_reason(reason)
                    if text := stop.feed((choice.get("delta") or {}).get("content") or ""):
                        pieces.append(text)
                        yield text
                if stop.stopped:
                    break
        if text := stop.flush():
            pieces.append(text)
            yield text
        return Generation(
            text="".join(pieces),
            tokens_in=int(usage.get("prompt_tokens") or 0),
            tokens_out=int(usage.get("completion_tokens") or 0),
            finish_reason="stop" if stop.stopped else finish,
        )

    def _chunks(self, response: httpx.Response) -> Iterator[dict[str, Any]]:
        """Parse server-sent events into JSON chunks, up to `data: [DONE]`."""
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    chunk = None
                if not isinstance(chunk, dict):
                    self._logged(f"malformed event from {self.label}", data)
                    raise GeneratorError(f"malformed event from {self.label}: not a JSON object")
                if chunk.get("error"):
                    self._logged(f"{self.label} reported an error mid-stream", json.dumps(chunk["error"]))
                    raise GeneratorError(f"{self.label} reported an error mid-stream")
                yield chunk
        except httpx.TransportError as exc:
            raise self._broken(exc) from exc
