"""`tailor keys` and `tailor serve` as a user runs them: `tailor serve` as a real process on a real port,
the other commands in-process through the same typer app (a `python -m tailor.cli` costs seconds of imports)."""

import json
import os
import shutil
import signal
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from helpers.serve_support import free_port_socket, wait_ready
from tailor.cli import app

QUESTION = {"question": "How much does the Weft S200 loom cost?"}


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    return lambda *args: runner.invoke(app, list(args))


def test_serve_answers_with_a_key_and_refuses_it_once_revoked(run, tmp_path, base_kb):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TAILOR_HOME": str(tmp_path / "home")}
    shutil.copytree(base_kb, tmp_path / "kb")
    created = json.loads(run("keys", "create", "--groups", "public", "--json").stdout)
    sock = free_port_socket()
    port = sock.getsockname()[1]
    sock.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "tailor.cli", "serve", "--kb", str(tmp_path / "kb"), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, timeout_s=180)
        headers = {"Authorization": f"Bearer {created['key']}"}
        answer = httpx.post(f"{base}/v1/ask", json=QUESTION, headers=headers, timeout=60)
        assert answer.status_code == 200 and "48,000" in answer.json()["text"]
        assert httpx.post(f"{base}/v1/ask", json=QUESTION, timeout=60).status_code == 401
        assert run("keys", "revoke", created["id"]).exit_code == 0
        assert httpx.post(f"{base}/v1/ask", json=QUESTION, headers=headers, timeout=60).status_code == 401
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert server.returncode in (0, -signal.SIGTERM), output  # uvicorn re-raises the signal after shutting down
    assert f"http://127.0.0.1:{port}" in output and "Traceback" not in output


def test_keys_are_created_listed_and_revoked_without_showing_secrets(run, tmp_path):
    created = run("keys", "create", "--groups", "hr,public", "--admin", "--name", "ops", "--json")
    key = json.loads(created.stdout)
    assert key["key"].startswith(f"tailor-{key['id']}.") and key["admin"] and key["groups"] == ["hr", "public"]
    assert key["key"].split(".")[1] not in (tmp_path / "home" / "keys.json").read_text()
    listed = run("keys", "ls", "--json").stdout
    assert key["id"] in listed and key["key"] not in listed and "hash" not in listed
    assert "revoked" in run("keys", "revoke", key["id"]).stdout
    assert json.loads(run("keys", "ls", "--json").stdout)[0]["revoked_at"]
    missing = run("keys", "revoke", "k-none")
    assert missing.exit_code == 1 and "no key with id" in missing.output
    bad = run("keys", "create", "--groups", " , ")
    assert bad.exit_code == 2 and "groups" in bad.output


def test_serve_refuses_a_bad_config_naming_the_problem(run, tmp_path):
    config = tmp_path / "tailor.yaml"
    for text, problem in [("serve:\n  port: not-a-port\n", "port"), ("surve: {}\n", "unknown section(s) surve"),
                          ("serve:\n  limits:\n    burst: 0\n", "burst")]:
        config.write_text(text)
        result = run("serve", "--kb", str(tmp_path / "kb"), "--config", str(config))
        assert result.exit_code == 2 and problem in result.output, result.output
