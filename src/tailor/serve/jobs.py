"""Background jobs: work that outlives its request (ingestion, compare runs), with status and progress.

    runner = JobRunner()
    job = runner.submit("ingest", owner=key.id, work=lambda handle: {...}, groups=("hr",))
    runner.get(job.id).to_dict()   # status, progress per phase, per-file errors, result

`work` receives a `JobHandle` to report progress and per-item errors, and returns the job's result
(a JSON-able dict). `groups` are the access groups the job was made with: a route shows the job only
to keys holding all of them (`tailor.serve.access.visible`). A job whose work raises is `failed` with the message; one that finished with
item errors is `partial`. Jobs run one at a time per runner, in submission order: for a knowledge
base that is also the order its versions are committed in.

The worker thread runs at a lower scheduling priority (`nice`, Linux sets it per thread): an ingestion
job embedding on the same cores as the requests takes what they leave, and threads it starts (torch's
intra-op pool) inherit the priority.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["queued", "running", "succeeded", "partial", "failed"]
log = logging.getLogger("tailor.serve")


@dataclass(frozen=True)
class JobError:
    """An item the job could not process (a file, a question), and why."""

    item: str
    reason: str


@dataclass
class Job:
    id: str
    kind: str
    owner: str
    groups: tuple[str, ...] = ()
    status: Status = "queued"
    progress: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: list[JobError] = field(default_factory=list)
    result: dict[str, Any] | None = None
    message: str | None = None
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "partial", "failed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "owner": self.owner,
            "groups": list(self.groups),
            "status": self.status,
            "progress": {phase: dict(counts) for phase, counts in self.progress.items()},
            "errors": [{"item": e.item, "reason": e.reason} for e in self.errors],
            "result": self.result,
            "message": self.message,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


class JobHandle:
    """What running work sees of its job: report progress and item errors (thread-safe)."""

    def __init__(self, job: Job, lock: threading.Lock) -> None:
        self._job = job
        self._lock = lock

    @property
    def id(self) -> str:
        return self._job.id

    def progress(self, phase: str, done: int, total: int) -> None:
        with self._lock:
            self._job.progress[phase] = {"done": done, "total": total}

    def error(self, item: str, reason: str) -> None:
        with self._lock:
            self._job.errors.append(JobError(item, reason))


Work = Callable[[JobHandle], dict[str, Any]]


class JobRunner:
    """Runs submitted work in one background thread; keeps the latest `keep` jobs for status queries."""

    def __init__(self, keep: int = 1000, nice: int = 0) -> None:
        self.keep = keep
        self.nice = nice
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tailor-job", initializer=self._lower_priority)

    def _lower_priority(self) -> None:
        """Raise this worker thread's nice value by `nice` (no privilege needed; a no-op where unsupported)."""
        if self.nice <= 0 or not hasattr(os, "setpriority"):
            return
        thread = threading.get_native_id()
        try:
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + self.nice))
        except OSError as exc:
            log.warning("background jobs keep normal priority: %s", exc)

    def submit(self, kind: str, owner: str, work: Work, groups: tuple[str, ...] = ()) -> Job:
        job = Job(id=f"{kind}-{secrets.token_hex(6)}", kind=kind, owner=owner, groups=tuple(sorted(groups)))
        with self._lock:
            self._jobs[job.id] = job
        self._pool.submit(self._run, job, work)
        return job

    def get(self, job_id: str) -> Job | None:
        """A snapshot of the job (safe to read while it runs), or None."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return None
            return Job(**{**job.__dict__, "progress": {k: dict(v) for k, v in job.progress.items()},
                          "errors": list(job.errors)})

    def jobs(self) -> list[Job]:
        with self._lock:
            ids = list(self._jobs)
        return [job for job in map(self.get, ids) if job is not None]

    def wait(self, job_id: str, timeout_s: float = 60.0) -> Job:
        """Block until the job is done (tests, scripts); TimeoutError past `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(f"no job {job_id!r}")
            if job.done:
                return job
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout_s}s")
            time.sleep(0.05)

    def _run(self, job: Job, work: Work) -> None:
        with self._lock:
            job.status, job.started_at = "running", time.time()
        try:
            result = work(JobHandle(job, self._lock))
        except Exception as exc:  # the job records the failure; the worker goes on with the next one
            log.exception("job %s failed", job.id)
            with self._lock:
                job.status, job.message, job.finished_at = "failed", f"{type(exc).__name__}: {exc}", time.time()
                self._forget_oldest()
            return
        with self._lock:
            job.result, job.finished_at = result, time.time()
            job.status = "partial" if job.errors else "succeeded"
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Drop the oldest finished jobs beyond `keep` (called with the lock held)."""
        finished = [job_id for job_id, job in self._jobs.items() if job.done]
        for job_id in finished[: max(0, len(self._jobs) - self.keep)]:
            del self._jobs[job_id]

    def shutdown(self, wait: bool = False) -> None:
        """Stop taking work; queued jobs are dropped, the running one finishes."""
        self._pool.shutdown(wait=wait, cancel_futures=True)
