"""The HTTP API end to end, against a real uvicorn server over the test corpus."""

import json

import httpx
import pytest

from helpers.serve_support import Keys, wait_job
from tailor.serve.schemas import AnswerOut

H = Keys.header
BONUS_QUESTION = "What percent of base salary is the Falcon retention bonus?"


def ask(server, key, question, **extra):
    return httpx.post(f"{server}/v1/ask", json={"question": question, **extra}, headers=H(key), timeout=60)


def test_health_readiness_and_docs_need_no_key(server):
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server}/readyz").json()["status"] == "ready"
    schema = httpx.get(f"{server}/openapi.json").json()
    assert {"/v1/ask", "/v1/chat/completions", "/v1/documents", "/v1/jobs/{job_id}"} <= set(schema["paths"])
    assert httpx.get(f"{server}/docs").status_code == 200


@pytest.mark.parametrize("headers, status", [
    ({}, 401), ({"Authorization": "Bearer tailor-kfake.nope"}, 401), ({"Authorization": "Basic abc"}, 401),
])
def test_a_missing_or_bad_key_is_401_on_every_api_route(server, headers, status):
    for method, path in [("POST", "/v1/ask"), ("POST", "/v1/chat/completions"), ("GET", "/v1/documents"),
                         ("GET", "/v1/documents/policies/travel.md"), ("DELETE", "/v1/documents/x"),
                         ("POST", "/v1/documents"), ("GET", "/v1/jobs/x"), ("GET", "/v1/models"),
                         ("GET", "/v1/reports"), ("GET", "/reports/a/report.html")]:
        response = httpx.request(method, f"{server}{path}", headers=headers, json={})
        assert response.status_code == status, (method, path)
        assert response.json()["error"]["type"] == "authentication_error"


def test_ask_answers_with_a_span_exact_citation_and_stage_timings(server, keys):
    response = ask(server, keys.public, "What is the nightly hotel cap in standard cities?")
    assert response.status_code == 200
    answer = response.json()
    assert "EUR 180" in answer["text"] and not answer["abstained"]
    citation = answer["citations"][0]
    document = httpx.get(f"{server}/v1/documents/{citation['doc_id']}", headers=H(keys.public)).json()
    assert document["text"][citation["start"]:citation["end"]] == citation["quote"]
    assert {"retrieve", "generate", "total"} <= set(answer["timings_ms"])
    assert (answer["model"], answer["strategy"], answer["generator"]) == ("rag", "rag", "extractive")
    AnswerOut.model_validate(answer)  # the documented schema


def test_every_retrieval_is_filtered_by_the_keys_groups(server, keys):
    public = ask(server, keys.public, BONUS_QUESTION, top_k=10).json()
    assert public["abstained"]
    assert all(h["chunk"]["doc_id"] != "hr/falcon-bonus.md" for h in public["hits"])
    hr = ask(server, keys.hr, BONUS_QUESTION).json()
    assert "12 percent" in hr["text"] and hr["citations"][0]["doc_id"] == "hr/falcon-bonus.md"
    assert {h["chunk"]["doc_id"] for h in hr["hits"]} == {"hr/falcon-bonus.md"}  # hr sees only hr documents

    chat = httpx.post(f"{server}/v1/chat/completions", headers=H(keys.public), json={
        "model": "rag", "messages": [{"role": "user", "content": BONUS_QUESTION}]}).json()
    assert chat["tailor"]["abstained"] and chat["citations"] == []

    listed = {d["id"] for d in httpx.get(f"{server}/v1/documents", headers=H(keys.public)).json()}
    assert "hr/falcon-bonus.md" not in listed and "policies/travel.md" in listed
    hidden = httpx.get(f"{server}/v1/documents/hr/falcon-bonus.md", headers=H(keys.public))
    missing = httpx.get(f"{server}/v1/documents/hr/no-such.md", headers=H(keys.public))
    assert hidden.status_code == missing.status_code == 404  # no existence leak
    assert hidden.json()["error"]["message"].replace("falcon-bonus", "no-such") == missing.json()["error"]["message"]


def test_ask_streams_tokens_then_the_answer_with_citations(server, keys):
    with httpx.stream("POST", f"{server}/v1/ask", headers=H(keys.hr),
                      json={"question": BONUS_QUESTION, "stream": True}, timeout=60) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [block for block in response.read().decode().split("\n\n") if block]
    names = [block.split("\n")[0].removeprefix("event: ") for block in events]
    assert names[-1] == "answer" and set(names[:-1]) == {"token"} and len(names) > 3
    tokens = "".join(json.loads(block.split("data: ", 1)[1])["text"] for block in events[:-1])
    answer = json.loads(events[-1].split("data: ", 1)[1])
    assert tokens == answer["text"] and answer["citations"][0]["doc_id"] == "hr/falcon-bonus.md"


def test_writes_need_an_admin_key_and_stay_within_its_groups(server, keys):
    text = {"documents": [{"name": "memo.md", "text": "A memo."}], "groups": ["public"]}
    refused = httpx.post(f"{server}/v1/documents", headers=H(keys.public), json=text)
    assert refused.status_code == 403 and "admin" in refused.json()["error"]["message"]
    assert httpx.delete(f"{server}/v1/documents/policies/travel.md", headers=H(keys.public)).status_code == 403
    outside = httpx.post(f"{server}/v1/documents", headers=H(keys.public_admin), json={**text, "groups": ["hr"]})
    assert outside.status_code == 403 and outside.json()["error"]["param"] == "groups"
    # an admin cannot delete, nor see, a document outside its groups
    assert httpx.delete(f"{server}/v1/documents/hr/falcon-bonus.md", headers=H(keys.public_admin)).status_code == 404
    assert httpx.get(f"{server}/v1/jobs/ingest-123", headers=H(keys.public)).status_code == 403


def test_an_upload_is_ingested_by_a_job_with_per_file_errors_then_answered_and_deleted(server, keys):
    files = [
        ("files", ("../../Zephyr launch.md", b"# Zephyr\n\nThe Zephyr loom ships on 3 May with a titanium frame.\n",
                   "text/markdown")),
        ("files", ("empty.txt", b"   \n", "text/plain")),
        ("files", ("broken.pdf", b"%PDF-1.4 not really a pdf", "application/pdf")),
    ]
    accepted = httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=files, data={"groups": "hr"})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["files"] == ["Zephyr_launch.md", "empty.txt", "broken.pdf"]
    job = wait_job(server, accepted.json()["job"]["id"], keys.admin)
    assert job["status"] == "partial"
    assert sorted(e["item"] for e in job["errors"]) == ["broken.pdf", "empty.txt"]
    assert job["result"]["added"] == ["Zephyr_launch.md"] and job["progress"]["load"] == {"done": 3, "total": 3}
    assert all("/" not in e["reason"] for e in job["errors"])  # no server paths leak into messages

    question = "When does the Zephyr loom ship?"
    assert "3 May" in ask(server, keys.hr, question).json()["text"]
    assert ask(server, keys.public, question).json()["citations"] == [] or all(
        c["doc_id"] != "Zephyr_launch.md" for c in ask(server, keys.public, question).json()["citations"])
    document = httpx.get(f"{server}/v1/documents/Zephyr_launch.md", headers=H(keys.hr)).json()
    assert document["groups"] == ["hr"] and document["source"] == "Zephyr_launch.md"  # no server paths
    as_admin = httpx.get(f"{server}/v1/documents/Zephyr_launch.md", headers=H(keys.admin)).json()
    assert as_admin["source"] == as_admin["metadata"]["path"] == "upload:Zephyr_launch.md"
    assert "path" not in document["metadata"]

    assert httpx.delete(f"{server}/v1/documents/Zephyr_launch.md", headers=H(keys.admin)).status_code == 204
    assert httpx.get(f"{server}/v1/documents/Zephyr_launch.md", headers=H(keys.hr)).status_code == 404
    assert "3 May" not in ask(server, keys.hr, question).json()["text"]


def test_a_text_upload_cannot_take_over_a_document_the_admin_cannot_see(server, keys):
    body = {"documents": [{"name": "notes.md", "text": "Public notes."}], "groups": ["public"]}
    job = wait_job(server, httpx.post(f"{server}/v1/documents", headers=H(keys.admin), json={
        "documents": [{"name": "notes.md", "text": "HR notes: the bonus pool is 2 million."}], "groups": ["hr"]},
    ).json()["job"]["id"], keys.admin)
    assert job["status"] == "succeeded"
    takeover = wait_job(server, httpx.post(f"{server}/v1/documents", headers=H(keys.public_admin), json=body)
                        .json()["job"]["id"], keys.public_admin)
    reason = takeover["errors"][0]["reason"]
    assert takeover["status"] == "partial" and "cannot be written" in reason
    assert not any(word in reason for word in ("taken", "outside", "exists", "hr"))  # nothing about the other
    assert httpx.get(f"{server}/v1/documents/notes.md", headers=H(keys.hr)).json()["groups"] == ["hr"]


def test_jsonl_documents_keep_to_the_uploaders_groups_and_ids_once(server, keys):
    lines = [{"id": "faq/one", "text": "Answer one about looms."}, {"id": "faq/one", "text": "Again."},
             {"id": "faq/two", "text": "Answer two.", "groups": ["finance"]},
             {"id": "faq/three", "text": "Answer three.", "groups": ["hr"]}]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    again = json.dumps({"id": "faq/three", "text": "Once more."}).encode()
    accepted = httpx.post(f"{server}/v1/documents", headers=H(keys.admin),
                          files=[("files", ("faq.jsonl", body)), ("files", ("more.jsonl", again))])
    job = wait_job(server, accepted.json()["job"]["id"], keys.admin)
    assert job["status"] == "partial" and sorted(job["result"]["added"]) == ["faq/one", "faq/three"]
    reasons = [(e["item"], e["reason"]) for e in job["errors"]]
    assert [item for item, _ in reasons] == ["faq.jsonl", "faq.jsonl", "more.jsonl"]
    assert "duplicate id 'faq/one'" in reasons[0][1] and "['finance'] are not groups" in reasons[1][1]
    assert reasons[2][1] == "duplicate document id 'faq/three' in this upload"


@pytest.mark.parametrize("files, field, status", [
    ([("files", ("run.sh", b"echo hi", "text/x-sh"))], "files[0].filename", 422),
    ([("files", ("a.md", b"x", "text/markdown")), ("files", ("../a.md", b"y", "text/markdown"))],
     "files[1].filename", 422),
    ([("files", ("big.md", b"x" * (20 * 1024), "text/markdown"))], "files[0]", 422),
    ([("other", ("a.md", b"x", "text/markdown"))], "files", 422),
])
def test_upload_limits_name_the_field(server, keys, files, field, status):
    response = httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=files)
    assert response.status_code == status
    assert response.json()["error"]["message"].startswith(field)


def test_bodies_over_the_limits_are_413(server, keys):
    whole = [("files", (f"part{i}.md", b"x" * (15 * 1024), "text/markdown")) for i in range(6)]
    assert httpx.post(f"{server}/v1/documents", headers=H(keys.admin), files=whole).status_code == 413
    huge = {"question": "x" * (2 << 20)}
    assert httpx.post(f"{server}/v1/ask", headers=H(keys.public), json=huge).status_code == 413


MALFORMED = [
    ("POST", "/v1/ask", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("POST", "/v1/ask", {"content": b"[1, 2]", "headers": {"content-type": "application/json"}}),
    ("POST", "/v1/ask", {"json": {"question": 42}}),
    ("POST", "/v1/ask", {"json": {"question": ""}}),
    ("POST", "/v1/ask", {"json": {"question": "   "}}),
    ("POST", "/v1/ask", {"json": {"question": "q" * 5000}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "top_k": 0}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "top_k": "many"}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "strategy": "nonsense"}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "strategy": "finetuned"}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "strategy": "rag:adapter"}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "strategy": "hybrid:no-such-adapter"}}),
    ("POST", "/v1/ask", {"json": {"question": "hi", "unknown": 1}}),
    ("POST", "/v1/ask", {"content": b"question=hi", "headers": {"content-type": "application/x-www-form-urlencoded"}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "rag", "messages": []}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "system", "content": "x"}]}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "rag", "messages": [{"role": "wizard", "content": "x"}]}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "rag", "messages": "hello"}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "rag", "n": 3, "messages": [{"role": "user", "content": "x"}]}}),
    ("POST", "/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "x"}]}}),
    ("POST", "/v1/chat/completions", {"json": {"model": "", "messages": [{"role": "user", "content": "x"}]}}),
    ("POST", "/v1/documents", {"content": b"plain", "headers": {"content-type": "text/plain"}}),
    ("POST", "/v1/documents", {"content": b"{", "headers": {"content-type": "application/json"}}),
    ("POST", "/v1/documents", {"json": {"documents": []}}),
    ("POST", "/v1/documents", {"json": {"documents": [{"name": "a.md"}]}}),
    ("POST", "/v1/documents", {"json": {"documents": [{"name": "a.md", "text": "x"}], "groups": ["bad group!"]}}),
    ("POST", "/v1/documents", {"json": {"documents": [{"name": "../x.exe", "text": "x"}]}}),
    ("POST", "/v1/documents", {"content": b"--xx\r\n\r\n", "headers": {"content-type": "multipart/form-data; boundary=xx"}}),
    ("POST", "/v1/documents", {"content": b"junk", "headers": {"content-type": "multipart/form-data"}}),
    ("POST", "/v1/documents", {"files": [("files", ("a.md", b"x", "text/markdown"))], "data": {"groups": ","}}),
    ("GET", "/v1/documents/%2e%2e/%2e%2e/etc/passwd", {}),
    ("GET", "/v1/documents/" + "x" * 5000, {}),
    ("GET", "/v1/jobs/../../etc", {}),
    ("DELETE", "/v1/documents/does/not/exist", {}),
    ("GET", "/reports/../secret/report.html", {}),
    ("GET", "/reports/a/..%2f..%2fetc", {}),
    ("PUT", "/v1/ask", {"json": {"question": "hi"}}),
]


@pytest.mark.parametrize("method, path, options", MALFORMED)
def test_malformed_requests_are_4xx_with_a_message_never_500(server, keys, method, path, options):
    headers = {**H(keys.admin), **options.pop("headers", {})}
    response = httpx.request(method, f"{server}{path}", headers=headers, timeout=60, **options)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    if response.status_code != 405:
        assert response.json()["error"]["message"]


def test_odd_but_valid_text_is_answered(server, keys):
    response = ask(server, keys.public, "\x00\ud7ff\U0001f600 <script>alert(1)</script> ''; DROP TABLE documents;")
    assert response.status_code == 200 and response.json()["abstained"]


def test_validation_errors_name_the_field(server, keys):
    response = httpx.post(f"{server}/v1/ask", headers=H(keys.public), json={"question": "hi", "top_k": 0})
    assert response.status_code == 422 and response.json()["error"]["param"] == "top_k"
    assert response.json()["error"]["message"].startswith("body.top_k:")
    response = httpx.post(f"{server}/v1/ask", headers=H(keys.public), json={"question": "hi", "strategy": "nope"})
    assert response.status_code == 422 and response.json()["error"]["message"].startswith("strategy: unknown")
    response = httpx.post(f"{server}/v1/ask", headers=H(keys.public),
                          json={"question": "hi", "strategy": "finetuned:ghost"})
    assert response.status_code == 404 and response.json()["error"]["param"] == "strategy"


def test_metrics_count_requests_per_route_and_time_answers_per_stage(server, keys):
    ask(server, keys.public, "How much does the S200 loom cost?")
    assert httpx.get(f"{server}/metrics").status_code == 401  # serve.public_metrics is off
    text = httpx.get(f"{server}/metrics", headers=H(keys.public)).text
    assert 'tailor_requests_total{method="POST",route="/v1/ask",status="200"}' in text
    assert 'tailor_request_seconds_bucket{le="0.005",method="POST",route="/v1/ask"}' in text
    assert 'tailor_answer_stage_seconds_count{stage="retrieve",strategy="rag"}' in text
    assert 'route="/v1/documents/{doc_id:path}"' in text  # templates, never raw paths
    assert "etc/passwd" not in text


def test_reports_are_listed_and_served_to_admins_only(served, server, keys):
    reports = served[1].serve.reports
    (reports / "2026-run").mkdir(parents=True)
    (reports / "2026-run" / "report.html").write_text("<h1>Compare: rag wins</h1>")
    # a report of `tailor compare` counts as made with every group of its knowledge base
    (reports / "2026-run" / "report.json").write_text(json.dumps({"kb": {"groups": {"public": 3, "hr": 1}}}))
    (reports / "no-groups").mkdir(parents=True)
    (reports / "no-groups" / "report.html").write_text("<h1>whose?</h1>")  # groups unknown: shown to no key
    listed = httpx.get(f"{server}/v1/reports", headers=H(keys.admin)).json()
    assert [r["name"] for r in listed] == ["2026-run"] and listed[0]["groups"] == ["hr", "public"]
    assert httpx.get(f"{server}/v1/reports", headers=H(keys.public_admin)).json() == []
    hidden = httpx.get(f"{server}/reports/2026-run/report.html", headers=H(keys.public_admin))
    missing = httpx.get(f"{server}/reports/2026-nope/report.html", headers=H(keys.public_admin))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace("2026-run", "2026-nope") == missing.json()["error"]["message"]
    assert httpx.get(f"{server}/reports/no-groups/report.html", headers=H(keys.admin)).status_code == 404
    page = httpx.get(f"{server}{listed[0]['url']}", headers=H(keys.admin))
    assert page.status_code == 200 and "rag wins" in page.text
    assert "sandbox" in page.headers["content-security-policy"]
    assert httpx.get(f"{server}/v1/reports", headers=H(keys.public)).status_code == 403
    assert httpx.get(f"{server}/reports/2026-run/missing.html", headers=H(keys.admin)).status_code == 404


def test_the_web_ui_is_served_with_a_strict_policy_and_cors_is_off(server):
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "<title>Tailor</title>" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert httpx.get(f"{server}/static/app.js").status_code == 200
    preflight = httpx.options(f"{server}/v1/ask", headers={"Origin": "http://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers


def key_id(token: str) -> str:
    return token.removeprefix("tailor-").split(".")[0]


def test_every_answer_of_every_route_is_audited_by_key_id_never_the_key(served, server, keys):
    question = "How many characters must passwords have?"
    ask(server, keys.hr, BONUS_QUESTION)
    ask(server, keys.hr, BONUS_QUESTION, stream=True)
    httpx.post(f"{server}/v1/chat/completions", headers=H(keys.hr),
               json={"model": "rag", "messages": [{"role": "user", "content": BONUS_QUESTION}]})
    httpx.post(f"{server}/v1/chat/completions", headers=H(keys.hr), json={
        "model": "rag", "stream": True, "messages": [{"role": "user", "content": BONUS_QUESTION}]}).read()
    ask(server, keys.public, question)

    entries = httpx.get(f"{server}/v1/audit", headers=H(keys.admin), params={"key": key_id(keys.hr)}).json()
    assert len(entries) >= 4 and all(e["caller"] == key_id(keys.hr) and e["groups"] == ["hr"] for e in entries)
    assert all(d["doc_id"] == "hr/falcon-bonus.md" for e in entries[:4] for d in e["documents"] if d["cited"])
    by_doc = httpx.get(f"{server}/v1/audit", headers=H(keys.admin), params={"doc": "policies/security.md"}).json()
    assert by_doc and by_doc[0]["caller"] == key_id(keys.public)
    later = httpx.get(f"{server}/v1/audit", headers=H(keys.admin), params={"since": "2999-01-01T00:00:00Z"}).json()
    assert later == []
    # an admin of `public` only does not see what hr callers were told
    seen = httpx.get(f"{server}/v1/audit", headers=H(keys.public_admin)).json()
    assert seen and all(e["groups"] == ["public"] for e in seen)
    assert httpx.get(f"{server}/v1/audit", headers=H(keys.public)).status_code == 403
    assert httpx.get(f"{server}/v1/audit", headers=H(keys.admin), params={"since": "yesterday"}).status_code == 422

    trail = b"".join(p.read_bytes() for p in (served[0] / "audit").rglob("*") if p.is_file())
    for token in (keys.hr, keys.public):
        assert token.split(".")[1].encode() not in trail


def test_rate_limits_timeouts_and_configured_cors(served, embedder, tmp_path):
    from helpers.serve_support import running
    from tailor.serve.app import create_app
    from tailor.serve.config import LimitsConfig, ServeConfig, ServeSettings

    kb_path, settings, keys = served
    strict = ServeSettings(serve=ServeConfig(
        home=settings.serve.home, audit_dir=tmp_path / "audit", cors_origins=["http://ui.example"],
        limits=LimitsConfig(rate_per_minute=1, burst=3, answer_timeout_s=0.001)))
    with running(create_app(kb_path, strict, embedder=embedder)) as base:
        slow = httpx.post(f"{base}/v1/ask", headers=H(keys.hr), json={"question": BONUS_QUESTION})
        assert slow.status_code == 504 and "no answer within" in slow.json()["error"]["message"]
        streamed = httpx.post(f"{base}/v1/ask", headers=H(keys.hr), json={"question": BONUS_QUESTION, "stream": True})
        assert "event: error" in streamed.text and "no answer within" in streamed.text
        assert httpx.get(f"{base}/v1/me", headers=H(keys.hr)).status_code == 200
        limited = httpx.get(f"{base}/v1/me", headers=H(keys.hr))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert httpx.get(f"{base}/v1/me", headers=H(keys.public)).status_code == 200  # a key of its own
        preflight = httpx.options(f"{base}/v1/ask", headers={"Origin": "http://ui.example",
                                                            "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "http://ui.example"
