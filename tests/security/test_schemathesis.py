"""Schemathesis against the live server for a bounded number of requests: whatever the body, path or query,
no answer is a server error and every answer is JSON (or the page, event stream or 204 it documents).
Run as an admin key holding every group (the widest surface) and as a public key. POST /v1/compare is
left out: a random valid request would train models for minutes (tests/serve/test_serve_compare.py and
tests/security/test_acl_property.py drive it)."""

from __future__ import annotations

import collections
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from helpers.serve_support import Keys, make_keys, running
from tailor.serve.app import create_app
from tailor.serve.config import LimitsConfig, ServeConfig, ServeSettings

ADMIN_ONLY = ("POST /v1/documents", "DELETE /v1/documents/{doc_id}", "GET /v1/jobs/{job_id}", "GET /v1/compare/{job_id}",
              "GET /v1/reports", "GET /reports/{name}/{filename}", "GET /v1/audit")
CONTENT_TYPES = ("application/json", "text/html", "text/event-stream", "text/plain", "application/x-ndjson")


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, base_kb, embedder):
    """A server over a copy of the corpus whose rate limit is out of the way (429 would hide the routes)."""
    root = tmp_path_factory.mktemp("fuzzed")
    shutil.copytree(base_kb, root / "kb")
    limits = LimitsConfig(rate_per_minute=1e9, burst=1_000_000, max_upload_bytes=64 * 1024, max_file_bytes=16 * 1024)
    settings_ = ServeSettings(serve=ServeConfig(home=root / "home", reports=root / "reports", limits=limits))
    keys = make_keys(settings_.serve.keys_file)
    with running(create_app(root / "kb", settings_, embedder=embedder)) as base:
        yield base, keys


def fuzz_operation(operation, key: str, examples: int, derandomize: bool, made: collections.Counter) -> None:
    """`examples` generated requests to one operation, counted in `made`; a server error fails the test."""

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def requests_to(case) -> None:
        response = case.call(headers=Keys.header(key), timeout=60)
        case.validate_response(response, checks=[not_a_server_error])
        kind = (response.headers.get("content-type") or [""])[0]  # schemathesis keeps every value
        assert response.status_code in (204, 405) or kind.startswith(CONTENT_TYPES), (response.status_code, kind)
        made[operation.label, response.status_code] += 1

    requests_to()


def fuzz(server: str, key: str, examples: int, derandomize: bool = True) -> collections.Counter:
    """Responses per (operation, status); the first server error fails the test with its reproduction."""
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json").exclude(method="POST", path="/v1/compare")
    made: collections.Counter = collections.Counter()
    for result in schema.get_all_operations():
        fuzz_operation(result.ok(), key, examples, derandomize, made)
    return made


@pytest.mark.parametrize("holder", ["admin", "public"])
def test_no_request_is_a_server_error(fuzzed, holder):
    server, keys = fuzzed
    made = fuzz(server, getattr(keys, holder), examples=15)
    answered = {label for (label, status) in made if status < 300}
    assert sum(made.values()) >= 100, made
    if holder == "admin":
        assert len(answered) >= 8, made  # the routes were reached, not refused
    else:
        assert answered and not answered & set(ADMIN_ONLY), made
        assert {label for label, status in made if status == 403} & set(ADMIN_ONLY), made
    assert not [k for k in made if k[1] == 429], made


@pytest.mark.slow
def test_no_request_is_a_server_error_long(fuzzed):
    server, keys = fuzzed
    fuzz(server, keys.admin, examples=500, derandomize=False)
