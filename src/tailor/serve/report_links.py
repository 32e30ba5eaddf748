"""Report links: how the web UI opens a report in a frame without putting the API key in a URL.

A frame's navigation cannot send an `Authorization` header, and a report fetched by script and shown from
a `blob:` URL inherits the UI page's Content-Security-Policy, which blocks the report's own script. So the
UI asks for a link (`POST /v1/reports/{name}/link`, with its key) and loads the report from its own
`/reports/...` URL into a sandboxed frame: the response's headers and the report's `<meta>` policy govern
that document, and its opaque origin never reaches the UI's storage.

The link's `access` value is `<key id>.<expiry>.<mac>`: an HMAC-SHA256, under a secret drawn when the server
starts, of the key id, the hash of the key's secret, the report name and the expiry. It opens that one
report for `TTL_SECONDS`, only while the key is still active, still an admin and still holds the report's
groups (all checked again on use); a restart, a revoked key or another report makes it useless. The key's
secret is never in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from tailor.serve.keys import ApiKey, KeyStore

TTL_SECONDS = 60


class ReportLinks:
    def __init__(self, ttl_seconds: int = TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._secret = secrets.token_bytes(32)

    def issue(self, key: ApiKey, report: str) -> str:
        """The `access` value that opens `report` as `key` for the next `ttl_seconds`."""
        expires = int(time.time()) + self.ttl_seconds
        return f"{key.id}.{expires}.{self._mac(key, report, expires)}"

    def check(self, access: str, report: str, keys: KeyStore) -> ApiKey | None:
        """The active key `access` was issued to for `report`, or None (forged, expired, another report,
        a revoked or changed key). Whether that key may still see the report is the caller's check."""
        key_id, expires_text, mac = (access.split(".") + ["", ""])[:3]
        if not expires_text.isdigit() or int(expires_text) < time.time():
            return None
        key = keys.active(key_id)
        if key is None or not hmac.compare_digest(mac.encode(), self._mac(key, report, int(expires_text)).encode()):
            return None
        return key

    def _mac(self, key: ApiKey, report: str, expires: int) -> str:
        message = "\n".join((key.id, key.hash, report, str(expires))).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
