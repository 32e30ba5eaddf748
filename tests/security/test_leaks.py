"""Existence and metadata leaks (issue 25, item 7), each against the live server: a report's knowledge-base
counts, report names, server paths in answers, group names in adapter refusals, /metrics without a key."""

from __future__ import annotations

import json
import re
import shutil
import time

import httpx
import pytest

from helpers.serve_support import Keys, make_keys, running
from helpers.tiny_llm import build_tiny_llama, build_tiny_lora_adapter
from tailor.finetune.registry import AdapterRegistry
from tailor.kb.knowledge_base import KnowledgeBase
from tailor.serve.app import create_app
from tailor.serve.config import ServeConfig, ServeSettings
from tailor.serve.routes.answers import public_generator

PUBLIC_Q = {"id": "q1", "question": "How far in advance should trips be booked?", "answers": ["14 days"]}
HR_Q = {"id": "q2", "question": "What is the Falcon retention bonus?", "answers": ["12 percent"], "groups": ["hr"]}
EXTRACTIVE = {"arms": [{"name": "rx", "strategy": "rag", "generator": "extractive"}], "probes": {"forgetting": False}}
SECRET_GROUP = "payroll-secret"


def run(client: httpx.Client, key: str, body: dict) -> dict:
    started = client.post("/v1/compare", headers=Keys.header(key), json=body)
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 300
    while (job := client.get(f"/v1/compare/{started.json()['id']}", headers=Keys.header(key)).json())["status"] in (
            "queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert job["status"] == "succeeded", job
    return job


def test_a_report_counts_only_the_documents_of_its_runs_groups(server: str, keys: Keys):
    """The corpus holds 3 public documents and 1 hr one; a public admin's report names neither hr nor its count."""
    with httpx.Client(base_url=server, timeout=60) as client:
        kbs = {}
        for key, questions in ((keys.public_admin, [PUBLIC_Q]), (keys.admin, [PUBLIC_Q, HR_Q])):
            name = run(client, key, {"questions": questions, "settings": EXTRACTIVE})["result"]["name"]
            kbs[key] = client.get(f"/reports/{name}/report.json", headers=Keys.header(key)).json()["kb"]
    assert (kbs[keys.public_admin]["groups"], kbs[keys.public_admin]["documents"]) == ({"public": 3}, 3)
    assert (kbs[keys.admin]["groups"], kbs[keys.admin]["documents"]) == ({"hr": 1, "public": 3}, 4)


def test_a_report_name_used_by_a_more_privileged_admin_answers_as_a_free_name(server: str, keys: Keys):
    with httpx.Client(base_url=server, timeout=60) as client:
        run(client, keys.admin, {"name": "quarterly", "questions": [HR_Q], "settings": EXTRACTIVE})
        forbidden = {"questions": [PUBLIC_Q], "settings": {**EXTRACTIVE, "training": {"groups": ["hr"]}}}
        answers = [client.post("/v1/compare", headers=Keys.header(keys.public_admin), json={**forbidden, "name": n})
                   for n in ("quarterly", "unused-name")]
        assert [a.status_code for a in answers] == [403, 403]
        assert answers[0].json() == answers[1].json()
        for name in ("quarterly", "unused-name"):
            job = run(client, keys.public_admin, {"name": name, "questions": [PUBLIC_Q], "settings": EXTRACTIVE})
            assert re.fullmatch(rf"{name}-[0-9a-f]{{8}}", job["result"]["name"])
        visible = [r["name"] for r in client.get("/v1/reports", headers=Keys.header(keys.public_admin)).json()]
        assert len([n for n in visible if n.startswith("quarterly-")]) == 1  # its own run, not the hr one


def test_non_admin_answers_carry_no_server_paths(tmp_path, embedder):
    """Documents ingested from a folder have their file's path for a source: only admin keys see it."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "parking.md").write_text("# Parking\n\nVisitors park in lot C behind the mill.\n")
    kb = KnowledgeBase.open(tmp_path / "kb", embedder=embedder)
    kb.ingest([tmp_path / "docs"])
    kb.close()
    settings = ServeSettings(serve=ServeConfig(home=tmp_path / "home"))
    keys = make_keys(settings.serve.keys_file)
    question = "Where do visitors park?"
    seen = {}
    with running(create_app(tmp_path / "kb", settings, embedder=embedder)) as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        for key in (keys.public, keys.admin):
            header = Keys.header(key)
            asked = client.post("/v1/ask", headers=header, json={"question": question}).json()
            streamed = client.post("/v1/ask", headers=header, json={"question": question, "stream": True}).text
            chat = client.post("/v1/chat/completions", headers=header,
                               json={"model": "rag", "messages": [{"role": "user", "content": question}]}).json()
            chat_stream = client.post("/v1/chat/completions", headers=header, json={
                "model": "rag", "stream": True, "messages": [{"role": "user", "content": question}]}).text
            seen[key] = (asked, [json.dumps(asked), streamed, json.dumps(chat), chat_stream])
    root = str(tmp_path)
    public, admin = seen[keys.public], seen[keys.admin]
    assert public[0]["citations"] and all(c["source"] == c["doc_id"] for c in public[0]["citations"])
    assert public[0]["hits"] and all(h["doc_source"] == h["chunk"]["doc_id"] for h in public[0]["hits"])
    assert not [body for body in public[1] if root in body.replace("\\/", "/")]
    assert all(root in body.replace("\\/", "/") for body in admin[1])  # an admin still sees where, every route


def test_a_generator_is_named_without_where_it_lives():
    assert public_generator("hf:/srv/models/tiny+adapter:/home/t/adapters/bot/1/adapter", "bot@1") == \
        "hf:tiny+adapter:bot@1"
    assert public_generator("openai:http://10.0.0.5:8000/v1#llama-3", None) == "openai:llama-3"
    assert public_generator("extractive", None) == "extractive"


@pytest.fixture(scope="module")
def restricted_adapter(served, tmp_path_factory) -> str:
    """An adapter trained (for the test: built) on documents of a group no test key holds."""
    base = build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    weights = build_tiny_lora_adapter(base, tmp_path_factory.mktemp("bot"))
    manifest = {"base_model": {"id": str(base)}, "method": "lora", "weights": "adapter", "groups": [SECRET_GROUP]}
    AdapterRegistry(served[1].serve.home).publish("bot", {"adapter": weights}, manifest, {})
    return "bot"


def test_an_adapter_refusal_names_no_group(server: str, keys: Keys, restricted_adapter: str):
    with httpx.Client(base_url=server, timeout=60) as client:
        refusals = [
            client.post("/v1/ask", headers=Keys.header(keys.public),
                        json={"question": "hi", "strategy": f"finetuned:{restricted_adapter}"}),
            client.post("/v1/chat/completions", headers=Keys.header(keys.public), json={
                "model": f"hybrid:{restricted_adapter}", "messages": [{"role": "user", "content": "hi"}]}),
            client.post("/v1/compare", headers=Keys.header(keys.public_admin), json={
                "questions": [PUBLIC_Q], "settings": {"arms": [
                    {"name": "ft", "strategy": "finetuned", "adapter": restricted_adapter}]}}),
        ]
        audit = client.get("/v1/audit", headers=Keys.header(keys.admin), params={"outcome": "refused"}).text
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert restricted_adapter in refused.text and SECRET_GROUP not in refused.text
    assert restricted_adapter in audit and SECRET_GROUP not in audit


def test_metrics_need_a_key_unless_the_config_makes_them_public(server: str, served, keys: Keys, embedder,
                                                                 tmp_path):
    assert httpx.get(f"{server}/metrics").status_code == 401
    assert httpx.get(f"{server}/metrics", headers=Keys.header("tailor-nope.nope")).status_code == 401
    assert "tailor_requests_total" in httpx.get(f"{server}/metrics", headers=Keys.header(keys.public)).text
    shutil.copytree(served[0], tmp_path / "kb")
    settings = ServeSettings(serve=ServeConfig(home=tmp_path / "home", public_metrics=True))
    make_keys(settings.serve.keys_file)
    with running(create_app(tmp_path / "kb", settings, embedder=embedder)) as base:
        assert "tailor_requests_total" in httpx.get(f"{base}/metrics").text
