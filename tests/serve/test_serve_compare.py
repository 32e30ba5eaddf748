"""POST /v1/compare and GET /v1/compare/{id} against a real server: a compare run as a job, its report
listed with the others."""

from __future__ import annotations

import re
import time

import httpx

from helpers.serve_support import Keys

QUESTIONS = [
    {"id": "q1", "question": "How far in advance should trips be booked?", "answers": ["14 days"],
     "doc_ids": ["policies/travel.md"]},
    {"id": "q2", "question": "What is the chess club's founding year?", "answerable": False},
]
EXTRACTIVE = {"arms": [{"name": "rag_extractive", "strategy": "rag", "generator": "extractive"}]}


def wait_done(client: httpx.Client, job_id: str, headers: dict[str, str], timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/v1/compare/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "partial", "failed"):
            return job
        time.sleep(0.5)
    raise TimeoutError(job)


def test_an_admin_runs_a_compare_and_its_report_is_listed(server: str, keys: Keys):
    admin = Keys.header(keys.admin)
    with httpx.Client(base_url=server, timeout=60) as client:
        started = client.post("/v1/compare", headers=admin,
                              json={"questions": QUESTIONS, "name": "leave-check", "settings": EXTRACTIVE})
        assert started.status_code == 202, started.text
        job = wait_done(client, started.json()["id"], admin)
        assert job["status"] == "succeeded", job
        result = job["result"]
        assert re.fullmatch(r"leave-check-[0-9a-f]{8}", result["name"])  # a random suffix: no name collides
        assert result["report"] == f"/reports/{result['name']}/report.html"
        assert result["recommendation"]["verdict"] and result["metrics"]["rag_extractive"]["accuracy"]["mean"] == 1.0
        assert job["progress"]["answer: rag_extractive"] == {"done": 2, "total": 2}
        assert result["name"] in [r["name"] for r in client.get("/v1/reports", headers=admin).json()]
        page = client.get(result["report"], headers=admin)
        assert page.status_code == 200 and "rag_extractive" in page.text


def test_compare_needs_an_admin_key_and_a_valid_request(server: str, keys: Keys):
    admin = Keys.header(keys.admin)
    with httpx.Client(base_url=server, timeout=60) as client:
        assert client.post("/v1/compare", json={"questions": QUESTIONS}).status_code == 401
        assert client.post("/v1/compare", headers=Keys.header(keys.hr), json={"questions": QUESTIONS}).status_code == 403
        cases = [
            ({"questions": []}, "questions"),
            ({"questions": [{"question": ""}]}, "questions[0]"),
            ({"questions": QUESTIONS, "settings": {"kb": "/etc"}}, "settings"),
            ({"questions": QUESTIONS, "settings": {"arms": [{"name": "x", "strategy": "magic"}]}}, "settings"),
            ({"questions": QUESTIONS, "name": "../escape"}, "name"),
        ]
        for body, field in cases:
            response = client.post("/v1/compare", headers=admin, json=body)
            assert response.status_code == 422, (body, response.text)
            error = response.json()["error"]
            assert field in f"{error['param']} {error['message']}", (body, error)
        assert client.get("/v1/compare/compare-nope", headers=admin).status_code == 404


SECRET_QUESTION = {"id": "q1", "question": "What is the Falcon retention bonus?", "answers": ["12 percent"],
                   "groups": ["hr"]}


def test_a_key_cannot_make_a_compare_read_groups_it_does_not_hold(server: str, served, keys: Keys):
    """Every group a compare request names is the key's, or the request is refused before any work."""
    public_admin = Keys.header(keys.public_admin)
    cases = [
        ({"questions": [SECRET_QUESTION]}, "questions[0].groups"),
        ({"questions": QUESTIONS[:1], "settings": {"training": {"groups": ["hr"]}}}, "settings.training.groups"),
        ({"questions": QUESTIONS[:1], "settings": {"probes": {"leak_caller_groups": ["hr"]}}},
         "settings.probes.leak_caller_groups"),
        ({"questions": QUESTIONS[:1], "settings": {"probes": {"leak_adapter": {"groups": ["public", "hr"]}}}},
         "settings.probes.leak_adapter.groups"),
        ({"questions": QUESTIONS[:1], "settings": {"training": {"finetune": {"groups": ["hr"]}}}},
         "settings.training.finetune.groups"),
    ]
    reports = served[1].serve.reports
    with httpx.Client(base_url=server, timeout=60) as client:
        for i, (body, field) in enumerate(cases):
            response = client.post("/v1/compare", headers=public_admin,
                                   json={**body, "name": f"probe-{i}", "settings": {**EXTRACTIVE, **body.get("settings", {})}})
            assert response.status_code == 403, (body, response.text)
            assert response.json()["error"]["param"] == field
            assert not list(reports.glob(f"probe-{i}-*"))  # refused before any work: no report folder
        # a gold document outside the key's groups reads exactly as one that does not exist
        hidden = client.post("/v1/compare", headers=public_admin, json={
            "questions": [{**QUESTIONS[0], "doc_ids": ["hr/falcon-bonus.md"]}], "settings": EXTRACTIVE})
        missing = client.post("/v1/compare", headers=public_admin, json={
            "questions": [{**QUESTIONS[0], "doc_ids": ["hr/nothing.md"]}], "settings": EXTRACTIVE})
        assert hidden.status_code == missing.status_code == 422
        assert hidden.json()["error"]["message"].replace("falcon-bonus", "nothing") == missing.json()["error"]["message"]


def test_a_compare_run_and_its_report_are_seen_only_by_keys_holding_its_groups(server: str, keys: Keys):
    admin, public_admin = Keys.header(keys.admin), Keys.header(keys.public_admin)
    with httpx.Client(base_url=server, timeout=60) as client:
        started = client.post("/v1/compare", headers=admin,
                              json={"questions": [SECRET_QUESTION], "name": "hr-run", "settings": EXTRACTIVE})
        assert started.status_code == 202, started.text
        job = wait_done(client, started.json()["id"], admin)
        assert job["status"] == "succeeded" and "hr" in job["groups"]  # with the defaults' (probes as public)
        name = job["result"]["name"]
        assert "12 percent" in client.get(f"/reports/{name}/report.json", headers=admin).text
        for path in (f"/v1/compare/{job['id']}", f"/reports/{name}/report.json", f"/reports/{name}/report.html"):
            hidden = client.get(path, headers=public_admin)
            assert hidden.status_code == 404 and "12 percent" not in hidden.text, path
        assert name not in [r["name"] for r in client.get("/v1/reports", headers=public_admin).json()]
        assert client.get(f"/reports/{name}/.access.json", headers=admin).status_code == 404
