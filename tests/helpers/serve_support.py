"""Helpers of the server tests: the corpus, keys, and a real server on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn

from tailor.records import Document
from tailor.serve.keys import KeyStore

TRAVEL = ("Business travel. The nightly hotel cap is EUR 180 in standard cities. "
          "Trips should be booked at least 14 days before departure.")
LOOM = "The Weft S200 loom costs EUR 48,000 and weaves up to 1,200 picks per minute."
BONUS = "Retention bonus. The Falcon retention bonus is 12 percent of base salary, paid every March."
SECURITY = "Security policy. Laptops must use full-disk encryption, and passwords must have 14 characters."

DOCS = [
    Document("policies/travel.md", TRAVEL, "Business Travel Policy", "travel.md", ("public",)),
    Document("products/s200.md", LOOM, "Weft S200", "s200.md", ("public",)),
    Document("hr/falcon-bonus.md", BONUS, "Falcon Retention Bonus", "falcon-bonus.md", ("hr",)),
    Document("policies/security.md", SECURITY, "Security Policy", "security.md", ("public",)),
]


@dataclass
class Keys:
    admin: str  # groups public, hr; admin
    hr: str  # groups hr
    public: str  # groups public
    public_admin: str  # groups public; admin

    @staticmethod
    def header(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


def make_keys(path: Path) -> Keys:
    store = KeyStore(path)
    return Keys(
        admin=store.create(("public", "hr"), admin=True, name="admin")[1],
        hr=store.create(("hr",), name="hr")[1],
        public=store.create(("public",), name="public")[1],
        public_admin=store.create(("public",), admin=True, name="public admin")[1],
    )


def free_port_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def running(app) -> Iterator[str]:
    """Run `app` with uvicorn (lifespan on) on a free loopback port; yield its base URL once ready."""
    sock = free_port_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_ready(base, thread)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def wait_ready(base: str, thread: threading.Thread | None = None, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if thread is not None and not thread.is_alive():
            raise RuntimeError("the server stopped")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{base} not ready after {timeout_s}s")


def wait_job(base: str, job_id: str, key: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = httpx.get(f"{base}/v1/jobs/{job_id}", headers=Keys.header(key)).json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise TimeoutError(job_id)
