"""Request limits: a per-key rate limiter and the rules an uploaded file name must pass."""

from __future__ import annotations

import math
import re
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 120


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key: `burst` requests at once, then `per_minute` sustained."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def acquire(self, key_id: str) -> float:
        """Take one request's token; 0.0 when allowed, else the seconds to wait before retrying."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.setdefault(key_id, _Bucket(float(self.burst), now))
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate


def retry_after_header(wait_s: float) -> str:
    return str(max(1, math.ceil(wait_s)))


def safe_filename(raw: str, allowed_extensions: list[str], field: str = "filename") -> str:
    """The base name of an uploaded file, reduced to safe characters; ValueError names `field`.

    Directory parts (either slash) are dropped, so no name can leave the upload folder; leading
    dots go (no hidden files, no `..`); the extension must be one of `allowed_extensions`.
    """
    name = unicodedata.normalize("NFKC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name.strip()).strip("._")
    if not name:
        raise ValueError(f"{field}: {raw!r} has no usable file name")
    stem, dot, extension = name.rpartition(".")
    suffix = f".{extension.lower()}" if dot else ""
    if suffix not in allowed_extensions:
        raise ValueError(f"{field}: file type {suffix or '(none)'} of {raw!r} is not allowed "
                         f"(allowed: {', '.join(allowed_extensions)})")
    stem = stem[: MAX_NAME_CHARS - len(suffix)].rstrip("._") or "file"
    return stem + suffix
