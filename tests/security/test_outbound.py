"""No outbound request a caller chooses (issue 25, item 1): a compare request may pick an endpoint of the
server's config by name, never give a URL; the server's keys go only to the endpoint each is configured
for; what an endpoint answers besides a completion never reaches the caller.

A real HTTP listener on 127.0.0.1 stands for the attacker's (or an internal) server: it records every
request it receives, with its headers.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.serve_support import Keys, make_keys, running
from tailor.evaluate.compare.adherence import violations
from tailor.evaluate.compare.config import FormatSpec
from tailor.generate.base import GenerationConfig, GeneratorError
from tailor.generate.registry import make_generator
from tailor.serve.app import create_app
from tailor.serve.config import EndpointConfig, ServeConfig, ServeSettings

CANARY = "sk-canary-of-the-server-env"
ENDPOINT_KEY = "sk-the-endpoint-s-own"
UPSTREAM_SECRET = "internal-page-body-7f3a"
QUESTIONS = [{"question": "q?", "answers": ["a"]}]


@dataclass
class Listener:
    """Records each request; answers with `status` and `body` (by default an OpenAI chat completion)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {
        "choices": [{"message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1}})


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    record = Listener()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = int(self.headers.get("content-length") or 0)
            record.received.append({"method": "POST", "path": self.path, "headers": dict(self.headers),
                                    "body": self.rfile.read(length).decode()})
            payload = json.dumps(record.body).encode()
            self.send_response(record.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            record.received.append({"method": "GET", "path": self.path, "headers": dict(self.headers), "body": ""})
            payload = json.dumps({"type": "string", "description": UPSTREAM_SECRET}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    record.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield record
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def heard(listener: Listener) -> Iterator[Listener]:
    listener.received.clear()
    listener.status, listener.body = 200, Listener().body
    yield listener


@pytest.fixture(scope="module")
def endpoint_server(tmp_path_factory, base_kb: Path, embedder, listener: Listener) -> Iterator[tuple[str, Keys, Path]]:
    """A server whose config names one endpoint, `local` (the listener, model `m`), with its own key's env var,
    while the server's environment also holds an OPENAI_API_KEY."""
    root = tmp_path_factory.mktemp("outbound")
    shutil.copytree(base_kb, root / "kb")
    endpoint = EndpointConfig(url=listener.url, api_key_env="TAILOR_TEST_ENDPOINT_KEY", models=["m"])
    settings = ServeSettings(serve=ServeConfig(home=root / "home", reports=root / "reports",
                                               endpoints={"local": endpoint}))
    keys = make_keys(settings.serve.keys_file)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", CANARY)
        env.setenv("TAILOR_TEST_ENDPOINT_KEY", ENDPOINT_KEY)
        with running(create_app(root / "kb", settings, embedder=embedder)) as base:
            yield base, keys, root / "reports"


def the_issue_payload(field: str, spec: str) -> dict[str, Any]:
    """The issue's curl body, with `spec` in `field`."""
    settings: dict[str, Any] = {"arms": [{"name": "cb", "strategy": "closed_book"}], "probes": {"forgetting": False}}
    if field == "arms[0].generator":
        settings["arms"][0]["generator"] = spec
    else:
        settings[field] = spec
    return {"name": "x", "questions": QUESTIONS, "settings": settings}


def wait_done(client: httpx.Client, job_id: str, headers: dict[str, str], timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while (job := client.get(f"/v1/compare/{job_id}", headers=headers).json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, job
        time.sleep(0.3)
    return job


@pytest.mark.parametrize("field", ["base_model", "judge", "arms[0].generator"])
@pytest.mark.parametrize("where", ["http://127.0.0.1:{port}/v1", "HTTP://127.0.0.1:{port}/v1", "127.0.0.1:{port}/v1",
                                   "//127.0.0.1:{port}/v1", "local@127.0.0.1:{port}/v1"])
def test_a_url_in_a_request_is_refused_before_any_job_and_the_listener_hears_nothing(
        endpoint_server, heard: Listener, field: str, where: str):
    base, keys, reports = endpoint_server
    spec = f"openai:{where.format(port=heard.url.split(':')[2].split('/')[0])}#x"
    admin = Keys.header(keys.public_admin)  # the issue's attacker: a public-only admin key
    before = sorted(p.name for p in reports.glob("*")) if reports.exists() else []
    with httpx.Client(base_url=base, timeout=60) as client:
        response = client.post("/v1/compare", headers=admin, json=the_issue_payload(field, spec))
        assert response.status_code == 422, response.text
        assert response.json()["error"]["param"] == f"settings.{field}"
        time.sleep(0.3)  # a job, had one started, would have called by now
    assert heard.received == []
    assert (sorted(p.name for p in reports.glob("*")) if reports.exists() else []) == before  # no report folder


def test_a_configured_endpoint_is_called_by_name_with_its_own_key_only(endpoint_server, heard: Listener):
    base, keys, _ = endpoint_server
    admin = Keys.header(keys.public_admin)
    with httpx.Client(base_url=base, timeout=60) as client:
        for spec in ("openai:local#not-offered", "openai:elsewhere#m"):
            refused = client.post("/v1/compare", headers=admin, json=the_issue_payload("base_model", spec))
            assert refused.status_code == 422 and refused.json()["error"]["param"] == "settings.base_model"
        started = client.post("/v1/compare", headers=admin, json=the_issue_payload("base_model", "openai:local#m"))
        assert started.status_code == 202, started.text
        job = wait_done(client, started.json()["id"], admin)
        assert job["status"] == "succeeded", job
        report = client.get(f"/reports/{job['result']['name']}/report.json", headers=admin).text
    assert heard.received, "the configured endpoint was not called"
    for request in heard.received:
        assert request["headers"]["Authorization"] == f"Bearer {ENDPOINT_KEY}"
        assert request["path"] == "/v1/chat/completions" and json.loads(request["body"])["model"] == "m"
        assert CANARY not in json.dumps(request)
    assert json.loads(report)["arms"][0]["status"] == "ran"
    assert heard.url not in report and "openai:local#m" in report  # the report names the endpoint, not its URL


@pytest.mark.parametrize("status, body", [
    (400, {"error": {"message": f"bad request: {UPSTREAM_SECRET}"}}),
    (200, {"no": "choices", "page": UPSTREAM_SECRET}),
])
def test_what_an_endpoint_answers_besides_a_completion_never_reaches_the_caller(
        endpoint_server, heard: Listener, caplog: pytest.LogCaptureFixture, status: int, body: dict):
    base, keys, _ = endpoint_server
    heard.status, heard.body = status, body
    admin = Keys.header(keys.public_admin)
    with caplog.at_level(logging.WARNING, logger="tailor.generate"), httpx.Client(base_url=base, timeout=60) as client:
        started = client.post("/v1/compare", headers=admin, json=the_issue_payload("base_model", "openai:local#m"))
        job = wait_done(client, started.json()["id"], admin)
        name = job["result"]["name"]
        seen = [json.dumps(job)] + [client.get(f"/reports/{name}/{f}", headers=admin).text
                                    for f in ("report.json", "report.html", "summary.md")]
    assert heard.received and job["result"]["skipped"]["cb"], job  # the arm failed on the endpoint's answer
    reason = job["result"]["skipped"]["cb"]
    assert ("HTTP 400" in reason) if status == 400 else ("malformed response" in reason), reason
    assert not [text for text in seen if UPSTREAM_SECRET in text]
    assert UPSTREAM_SECRET in caplog.text  # the server's log keeps the body for its operator


def test_a_json_schema_ref_fetches_nothing(endpoint_server, heard: Listener):
    """`format.json_schema` may hold a `$ref`: it resolves inside the schema, never by fetching its URL
    (jsonschema's default fetches it). The endpoint answers JSON, so every answer is checked against it."""
    base, keys, _ = endpoint_server
    heard.body = {"choices": [{"message": {"role": "assistant", "content": '"a"'}, "finish_reason": "stop"}]}
    admin = Keys.header(keys.public_admin)
    body = the_issue_payload("base_model", "openai:local#m")
    body["settings"]["format"] = {"json_schema": {"$ref": f"{heard.url}/s.json"}}
    with httpx.Client(base_url=base, timeout=60) as client:
        job = wait_done(client, client.post("/v1/compare", headers=admin, json=body).json()["id"], admin)
        report = client.get(f"/reports/{job['result']['name']}/report.json", headers=admin).text
    assert job["status"] == "succeeded" and json.loads(report)["arms"][0]["status"] == "ran", job
    assert {r["method"] for r in heard.received} == {"POST"}  # the answers were asked for; the schema never fetched
    assert UPSTREAM_SECRET not in report
    reasons = violations('"a"', FormatSpec(json_schema={"$ref": f"{heard.url}/s.json"}))
    assert reasons == [f"JSON schema: $ref '{heard.url}/s.json' is not inside the schema"]
    assert {r["method"] for r in heard.received} == {"POST"}


def test_the_cli_form_sends_the_operators_key_to_the_operators_url(heard: Listener, monkeypatch):
    """`openai:<url>#<model>` stays the operator's own choice on the command line, with $OPENAI_API_KEY."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-operator")
    generator = make_generator(f"openai:{heard.url}#m")
    assert generator.generate([{"role": "user", "content": "q?"}], GenerationConfig(max_new_tokens=4)).text == "a"
    assert heard.received[0]["headers"]["Authorization"] == "Bearer sk-operator"
    with pytest.raises(GeneratorError, match="no endpoint of that name"):
        make_generator("openai:nowhere#m")
