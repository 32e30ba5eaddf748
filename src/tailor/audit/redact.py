"""Keeps credentials out of the audit trail, whatever a caller passes by mistake.

Two layers: the values of environment variables named like credentials (`OPENAI_API_KEY`,
`HF_TOKEN`, ...) are replaced wherever they occur, and free-text fields (caller, groups, generator,
adapter, a kept question) are also cleared of anything shaped like a credential: a Tailor API key's
secret part, `sk-...` and `hf_...` tokens, bearer tokens, URL user-info and `?key=`-style parameters.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

REDACTED = "[redacted]"
SECRET_ENV_NAME = re.compile(r"(?i)(key|token|secret|passw|credential)")
MIN_SECRET_CHARS = 12  # shorter values ("false", "1") are settings, and would match everywhere
TOKEN_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]{8,}"), rf"\1{REDACTED}"),
    (re.compile(r"\b(tailor-[A-Za-z0-9]+\.)[A-Za-z0-9_-]{16,}"), rf"\1{REDACTED}"),  # tailor.serve.keys
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), REDACTED),
    (re.compile(r"(://)[^/@\s]+@"), rf"\1{REDACTED}@"),
    (re.compile(r"(?i)([?&#](?:api[_-]?key|key|token|access_token|secret|password)=)[^&#\s]+"), rf"\1{REDACTED}"),
)


class SecretRedactor:
    """Replaces known secret values everywhere (`exact`), and credential shapes too in free text (`text`)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SecretRedactor:
        environ = os.environ if environ is None else environ
        return cls(value for name, value in environ.items() if SECRET_ENV_NAME.search(name) and " " not in value)

    def exact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def text(self, text: str) -> str:
        text = self.exact(text)
        for shape, replacement in TOKEN_SHAPES:
            text = shape.sub(replacement, text)
        return text
