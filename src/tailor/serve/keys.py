"""API keys: created by `tailor keys create`, kept hashed in one JSON file, checked on every request.

A key reads `tailor-<id>.<secret>`. The id is public (it names the caller in logs, metrics and the
audit trail); only a SHA-256 of the secret is stored. The secret is 256 random bits, so a plain
hash is enough: there is no guessable password for a slow hash to protect. The file is rewritten
atomically (mode 0600) and re-read whenever it changes, so a revoked key stops working at once in
a running server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "tailor-"
log = logging.getLogger("tailor.serve")
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class ApiKey:
    """One key as stored: its public id, the hash of its secret, its access groups and role."""

    id: str
    hash: str
    groups: tuple[str, ...]
    admin: bool = False
    name: str = ""
    created_at: str = ""
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """Everything but the hash."""
        return {k: v for k, v in asdict(self).items() if k != "hash"} | {"groups": list(self.groups)}


def parse_groups(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """`hr,public` (or a list) -> ("hr", "public"); every name checked, at least one."""
    items = text.split(",") if isinstance(text, str) else list(text)
    groups = tuple(dict.fromkeys(g.strip() for g in items if g.strip()))
    if not groups:
        raise ValueError("groups: give at least one access group, e.g. public")
    bad = [g for g in groups if not GROUP_NAME.match(g)]
    if bad:
        raise ValueError(f"groups: invalid name(s) {', '.join(map(repr, bad))} (letters, digits, _ . -)")
    return groups


def _digest(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class _Snapshot:
    stamp: tuple[int, int] | None = None
    keys: dict[str, ApiKey] = field(default_factory=dict)


class KeyStore:
    """The key file: create, list, revoke, and authenticate a bearer token."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._snapshot = _Snapshot()

    def create(self, groups: tuple[str, ...], admin: bool = False, name: str = "") -> tuple[ApiKey, str]:
        """A new key; returns it with its token, which is shown once and never stored."""
        key_id, secret = "k" + secrets.token_hex(5), secrets.token_urlsafe(32)
        key = ApiKey(
            key_id, _digest(secret), parse_groups(groups), admin, name, time.strftime("%Y-%m-%dT%H:%M:%S")
        )
        with self._lock:
            self._write({**self._read_file(), key_id: key})
        return key, f"{PREFIX}{key_id}.{secret}"

    def entries(self) -> list[ApiKey]:
        with self._lock:
            return list(self._read_file().values())

    def revoke(self, key_id: str) -> ApiKey:
        with self._lock:
            keys = self._read_file()
            if key_id not in keys:
                raise KeyError(f"no key with id {key_id!r} in {self.path}")
            revoked = ApiKey(**{**asdict(keys[key_id]), "revoked_at": time.strftime("%Y-%m-%dT%H:%M:%S")})
            self._write({**keys, key_id: revoked})
        return revoked

    def authenticate(self, token: str) -> ApiKey | None:
        """The active key that `token` belongs to, or None."""
        key_id, dot, secret = token.removeprefix(PREFIX).partition(".")
        if not token.startswith(PREFIX) or not dot:
            return None
        key = self._current().get(key_id)
        if key is None or not key.active or not hmac.compare_digest(key.hash, _digest(secret)):
            return None
        return key

    def active(self, key_id: str) -> ApiKey | None:
        """The key with this id if it is active (for a credential that names the key, e.g. a report link)."""
        key = self._current().get(key_id)
        return key if key is not None and key.active else None

    def _current(self) -> dict[str, ApiKey]:
        """The keys as on disk, re-read only when the file's size or mtime changed."""
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._snapshot.stamp:
                try:
                    keys = self._read_file() if stamp else {}
                except ValueError as exc:  # fail closed: no key is valid until the file is fixed
                    log.error("%s", exc)
                    keys = {}
                self._snapshot = _Snapshot(stamp, keys)
            return self._snapshot.keys

    def _read_file(self) -> dict[str, ApiKey]:
        if not self.path.exists():
            return {}
        try:
            rows = json.loads(self.path.read_text())["keys"]
            return {row["id"]: ApiKey(**{**row, "groups": tuple(row["groups"])}) for row in rows}
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{self.path}: malformed key file ({exc})") from exc

    def _write(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        rows = [{**asdict(k), "groups": list(k.groups)} for k in keys.values()]
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps({"keys": rows}, indent=2) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
