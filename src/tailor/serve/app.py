"""`create_app`: one FastAPI application serving the API under /v1, the metrics, and the web UI at /."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from tailor.audit import AuditLog, default_audit_dir
from tailor.finetune.registry import AdapterRegistry
from tailor.generate.registry import register_endpoints
from tailor.kb.embedding import Embedder
from tailor.serve.answering import Answerer, ModelName, StrategyCatalog
from tailor.serve.config import ServeSettings
from tailor.serve.errors import JsonErrors, install_error_handlers
from tailor.serve.jobs import JobRunner
from tailor.serve.keys import KeyStore
from tailor.serve.knowledge import ServedKnowledgeBase
from tailor.serve.limits import RateLimiter
from tailor.serve.metrics import MetricsMiddleware, ServeMetrics
from tailor.serve.reports import ReportShelf
from tailor.serve.routes import ask, audit, compare, documents, openai, ops, reports
from tailor.serve.state import ServeState
from tailor.serve.uploads import UploadStager

STATIC = Path(__file__).with_name("static")
UI_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
log = logging.getLogger("tailor.serve")


class ServeApp(FastAPI):
    """FastAPI with `JsonErrors` around everything, the body limit included: every 4xx is the JSON envelope."""

    def build_middleware_stack(self) -> ASGIApp:
        return JsonErrors(super().build_middleware_stack())


def build_state(kb_uri: str | Path, settings: ServeSettings, embedder: Embedder | None = None) -> ServeState:
    config = settings.serve
    register_endpoints({name: endpoint.endpoint() for name, endpoint in config.endpoints.items()})
    onnx_cache = config.home / "models" / "onnx" if config.query_runtime == "onnx" else None
    kb = ServedKnowledgeBase.open(str(kb_uri), settings.kb, embedder, onnx_cache)
    trail = AuditLog.open(config.audit_dir or default_audit_dir(kb_uri), settings.audit)
    metrics = ServeMetrics()
    catalog = StrategyCatalog(kb.reader, settings.ask, AdapterRegistry(config.home))
    return ServeState(
        settings=settings,
        keys=KeyStore(config.keys_file),
        limiter=RateLimiter(config.limits.rate_per_minute, config.limits.burst),
        kb=kb,
        answerer=Answerer(catalog, metrics, trail),
        jobs=JobRunner(nice=config.job_nice),
        compare_jobs=JobRunner(nice=config.job_nice),
        metrics=metrics,
        reports=ReportShelf(config.reports),
        uploads=UploadStager(config.uploads_dir, config.limits),
        audit=trail,
    )


def _warm(state: ServeState) -> None:
    """Load the embedder, the index and the default strategy, then report ready."""
    try:
        state.kb.warm()
        default = ModelName.parse(state.settings.serve.default_strategy, "default_strategy")
        if not default.adapter:
            state.answerer.catalog.resolve(default, ())
    except Exception:  # not ready: /readyz keeps saying so, and the log says why
        log.exception("warm-up failed")
        return
    state.ready.set()


def create_app(kb_uri: str | Path, settings: ServeSettings | None = None, embedder: Embedder | None = None) -> FastAPI:
    """The app for the knowledge base at `kb_uri` (created if missing); every answer it gives is recorded
    in the audit trail. `embedder` shares an already loaded model (tests)."""
    settings = settings or ServeSettings()
    state = build_state(kb_uri, settings, embedder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_warm, args=(state,), name="tailor-warm-up", daemon=True).start()
        yield
        state.jobs.shutdown()
        state.compare_jobs.shutdown()
        state.audit.close()

    limits = settings.serve.limits
    app = ServeApp(
        title="Tailor", summary="Answers from your documents, with citations, within your access groups.",
        version="1", lifespan=lifespan, max_body_size=limits.max_body_bytes,
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN; /docs below is self-contained
    )
    app.state.serve = state
    install_error_handlers(app)
    for router in (ask.router, openai.router, documents.router, ops.router, reports.router, audit.router,
                   compare.router):
        app.include_router(router)
    documents.add_upload_route(app, limits.max_upload_bytes)

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=UI_HEADERS)

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers=UI_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    if settings.serve.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.serve.cors_origins,
                           allow_methods=["GET", "POST", "DELETE"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app
