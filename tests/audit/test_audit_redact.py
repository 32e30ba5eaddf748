"""Credential shapes and environment secrets are scrubbed; ordinary ids and text are left alone."""

from __future__ import annotations

import pytest

from tailor.audit.redact import SecretRedactor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tailor-k0a1b2c3d4e.AbCdEfGhIjKlMnOpQrStUvWxYz_-0123456789", "tailor-k0a1b2c3d4e.[redacted]"),
        ("key sk-ant-api03-abcdefghijklmnop1234 here", "key [redacted] here"),
        ("hf_abcdefghijklmnopqrstuvwxyz", "[redacted]"),
        ("Authorization: Bearer eyJhbGciOi.JIUzI1NiJ9_x", "Authorization: Bearer [redacted]"),
        ("https://bob:hunter2@host:8000/v1", "https://[redacted]@host:8000/v1"),
        ("http://host/v1?model=m&api_key=xyz&x=1", "http://host/v1?model=m&api_key=[redacted]&x=1"),
        # left alone: ordinary ids, a key's public id, short words, paths
        ("tailor-k0a1b2c3d4e", "tailor-k0a1b2c3d4e"),
        ("risk-management-framework-2024", "risk-management-framework-2024"),
        ("hf:/models/qwen+adapter:/home/.tailor/adapters/hr/2/adapter", "hf:/models/qwen+adapter:/home/.tailor/adapters/hr/2/adapter"),
        ("cli:alice", "cli:alice"),
    ],
)
def test_credential_shapes_in_free_text(text, expected):
    assert SecretRedactor().text(text) == expected


def test_environment_secrets_are_named_like_credentials_and_long_enough():
    redactor = SecretRedactor.from_environment({
        "MY_SERVICE_TOKEN": "opaque-value-0042", "DB_PASSWORD": "correct horse battery staple",  # has spaces: skipped
        "TOKENIZERS_PARALLELISM": "false", "HOME": "/home/someone-long-path",
    })
    assert redactor.secrets == ("opaque-value-0042",)
    assert redactor.exact("a/opaque-value-0042/b /home/someone-long-path") == "a/[redacted]/b /home/someone-long-path"
