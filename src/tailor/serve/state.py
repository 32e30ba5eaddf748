"""What every route reaches through `request.app.state.serve`: the parts of one running server."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from tailor.audit import AuditLog
from tailor.serve.answering import Answerer
from tailor.serve.config import ServeSettings
from tailor.serve.jobs import JobRunner
from tailor.serve.keys import KeyStore
from tailor.serve.knowledge import ServedKnowledgeBase
from tailor.serve.limits import RateLimiter
from tailor.serve.metrics import ServeMetrics
from tailor.serve.report_links import ReportLinks
from tailor.serve.reports import ReportShelf
from tailor.serve.uploads import UploadStager


@dataclass
class ServeState:
    settings: ServeSettings
    keys: KeyStore
    limiter: RateLimiter
    kb: ServedKnowledgeBase
    answerer: Answerer
    jobs: JobRunner
    compare_jobs: JobRunner  # compare runs take minutes: their own queue, so ingestion never waits behind one
    metrics: ServeMetrics
    reports: ReportShelf
    uploads: UploadStager
    audit: AuditLog
    ready: threading.Event = field(default_factory=threading.Event)
    report_links: ReportLinks = field(default_factory=ReportLinks)
