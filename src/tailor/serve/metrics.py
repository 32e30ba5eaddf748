"""Prometheus metrics: request counts and latencies per route, answer latencies per stage.

Each app has its own registry (several apps may live in one process, as in the tests). Routes are
labelled by their template (`/v1/documents/{doc_id:path}`), never by the raw path, so that the
number of series stays bounded whatever clients send.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tailor.records import Answer

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class ServeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "tailor_requests", "HTTP requests by route, method and status", ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tailor_request_seconds", "Time to the end of the response, by route", ["route", "method"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.stages = Histogram(
            "tailor_answer_stage_seconds", "Time spent per answering stage (retrieve, rerank, generate, total)",
            ["strategy", "stage"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.abstentions = Counter(
            "tailor_answers", "Answers by strategy and whether they abstained", ["strategy", "abstained"],
            registry=self.registry,
        )

    def observe_answer(self, answer: Answer) -> None:
        for stage, ms in answer.timings_ms.items():
            self.stages.labels(answer.strategy, stage).observe(ms / 1000.0)
        self.abstentions.labels(answer.strategy, str(answer.abstained).lower()).inc()

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every HTTP request, labelled by the route template that served it."""

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(route, method, str(status)).inc()
            self.metrics.latency.labels(route, method).observe(time.perf_counter() - started)
