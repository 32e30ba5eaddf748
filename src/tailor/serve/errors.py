"""Every error leaves the server in one shape, OpenAI's, so that any client can show its message:

    {"error": {"message": "body.question: Field required", "type": "invalid_request_error", "param": "question"}}

Validation errors name the field; nothing a client sends can produce a 500. Errors raised by the
framework itself (an unparsable body, an unknown path) name what they are about (`FRAMEWORK_PARAMS`), and
`JsonErrors` puts the plain-text responses of the layers below the handlers (Starlette's body limit: 413)
in the same shape.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("tailor.serve")

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "conflict_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_exceeded",
    502: "generator_error",
    503: "unavailable",
    504: "timeout",
}

FRAMEWORK_PARAMS = {400: "body", 404: "path", 405: "method", 413: "body", 415: "content-type"}
"""What an error the framework raises (not a route) is about."""


class ApiError(Exception):
    """An error the client can act on: status, message, the field at fault, extra headers."""

    def __init__(self, status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.headers = headers


def invalid(exc: ValueError) -> ApiError:
    """A ValueError whose message starts with `field: ...` as a 422 naming that field."""
    message = str(exc)
    field, colon, _ = message.partition(":")
    return ApiError(422, message, field if colon and " " not in field else None)


def error_body(status: int, message: str, param: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "error"), "param": param, "code": status}}


def _response(status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message, param), status_code=status, headers=headers)


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _response(exc.status, exc.message, exc.param, exc.headers)


def framework_error(status: int, detail: str) -> dict[str, object]:
    param = FRAMEWORK_PARAMS.get(status)
    return error_body(status, f"{param}: {detail}" if param else detail, param)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(framework_error(exc.status_code, str(exc.detail)), exc.status_code,
                        headers=getattr(exc, "headers", None))


def _problem(error: dict[str, Any], prefix: tuple[object, ...]) -> tuple[str, str | None]:
    """One validation error as "field: what is wrong", with the field's name."""
    loc = (*prefix, *error.get("loc", ()))
    if error.get("type") == "json_invalid":  # FastAPI puts the character position last
        return "body: invalid JSON", "body"
    return f"{_location(loc)}: {error.get('msg', 'invalid')}", str(loc[-1]) if loc else None


def validation_error(errors: list[Any], prefix: tuple[object, ...] = ()) -> ApiError:
    """A 422 listing every problem of a pydantic validation, each led by its field."""
    problems = [_problem(e, prefix) for e in errors]
    message = "; ".join(text for text, _ in problems) or "invalid request"
    return ApiError(422, message, problems[0][1] if problems else None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    error = validation_error(list(exc.errors()))
    return _response(error.status, error.message, error.param)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return _response(500, "internal error; the server log has the details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)


class JsonErrors:
    """ASGI middleware, outermost: a plain-text 4xx from below the exception handlers becomes the
    envelope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []  # the start of a plain-text error, until its body is complete

        async def rewrite(message: Message) -> None:
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500 and dict(
                    message.get("headers", ())).get(b"content-type", b"").startswith(b"text/plain"):
                held.append(message)
                return
            if not held:
                await send(message)
                return
            held.append(message)
            if message.get("more_body"):
                return
            status = held[0]["status"]
            detail = b"".join(m.get("body", b"") for m in held[1:]).decode("utf-8", "replace").strip()
            await JSONResponse(framework_error(status, detail or "request refused"), status)(scope, receive, send)

        await self.app(scope, receive, rewrite)
