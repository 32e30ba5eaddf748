"""Operations: liveness, readiness, Prometheus metrics, and who a key is (the web UI's login).

/metrics takes any valid key (a scraper sends one of its own), unless `serve.public_metrics` opens it:
it holds request counts and latencies per route and status, answers and abstentions, no document text.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tailor.serve.auth import Caller, State, authenticate, bearer
from tailor.serve.errors import error_body

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(state: State) -> dict[str, Any] | Response:
    """The embedding model and the index are loaded: requests will not wait for them (503 until then)."""
    if not state.ready.is_set():
        return JSONResponse(error_body(503, "warming up: loading the embedding model and the index"), 503)
    return {"status": "ready", "kb_version": state.kb.version}


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    if not state.settings.serve.public_metrics:
        await authenticate(state, await bearer(request))
    body, content_type = state.metrics.exposition()
    return Response(body, media_type=content_type)


@router.get("/v1/me")
def me(caller: Caller, state: State) -> dict[str, Any]:
    """The calling key: id, groups, role (never the secret)."""
    return {**caller.public(), "kb_version": state.kb.version, "reports": state.reports.root is not None}
