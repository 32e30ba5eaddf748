"""POST /v1/compare and GET /v1/compare/{id} against a real server: a compare run as a job, its report
listed with the others."""

from __future__ import annotations

import time

import httpx
from serve_support import Keys

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
        assert result["report"] == "/reports/leave-check/report.html"
        assert result["recommendation"]["verdict"] and result["metrics"]["rag_extractive"]["accuracy"]["mean"] == 1.0
        assert job["progress"]["answer: rag_extractive"] == {"done": 2, "total": 2}
        assert "leave-check" in [r["name"] for r in client.get("/v1/reports", headers=admin).json()]
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
