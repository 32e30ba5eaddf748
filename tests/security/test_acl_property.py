"""Property: whatever the corpus, its documents' groups and the keys, no byte of a document outside a key's
groups reaches that key, by any route: answers (every strategy, streamed or not, native and OpenAI),
document reads, jobs, audit rows, compare runs and their reports. Nor does a path of the server reach a key
that is not an admin's (a citation's or hit's source, a generator's folder).

Each example starts a real server over an empty knowledge base; an owner key holding every group uploads
the documents (jobs) and runs a compare over all of them (a report), then every drawn key walks every
route. A document's secret is its codeword, its id and its title: each is a random token that occurs
nowhere else, so finding one in a response is a leak, whatever the route did with it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers.serve_support import running, wait_job
from tailor.serve.app import create_app
from tailor.serve.config import LimitsConfig, ServeConfig, ServeSettings
from tailor.serve.keys import KeyStore

GROUPS = ("red", "green", "blue")
PROJECTS = ("Kestrel", "Marlin", "Osprey", "Heron", "Puffin")
TOKEN = st.text(alphabet="bcdfghjkmnpqrstvwxz", min_size=12, max_size=12)


@dataclass(frozen=True)
class SecretDoc:
    project: str
    groups: tuple[str, ...]
    codeword: str
    name: str  # becomes the document id
    title: str

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.codeword, self.name.removesuffix(".md"), self.title

    @property
    def question(self) -> str:
        return f"What is the codeword of project {self.project}?"


@dataclass(frozen=True)
class DrawnKey:
    groups: tuple[str, ...]
    admin: bool


@st.composite
def corpora(draw: st.DrawFn) -> list[SecretDoc]:
    projects = draw(st.lists(st.sampled_from(PROJECTS), min_size=2, max_size=len(PROJECTS), unique=True))
    tokens = draw(st.lists(TOKEN, min_size=3 * len(projects), max_size=3 * len(projects), unique=True))
    docs = []
    for i, project in enumerate(projects):
        groups = draw(st.sets(st.sampled_from(GROUPS), min_size=1))
        codeword, name, title = tokens[3 * i: 3 * i + 3]
        docs.append(SecretDoc(project, tuple(sorted(groups)), f"zq{codeword}", f"{name}.md", f"Dossier {title}"))
    return docs


drawn_keys = st.lists(
    st.builds(DrawnKey, st.sets(st.sampled_from(GROUPS), min_size=1).map(lambda g: tuple(sorted(g))), st.booleans()),
    min_size=1, max_size=3,
)


def hidden_from(key: DrawnKey, docs: list[SecretDoc]) -> list[str]:
    return [s for d in docs if not set(d.groups) & set(key.groups) for s in d.secrets]


def upload_and_compare(base: str, owner: str, docs: list[SecretDoc]) -> tuple[list[str], str]:
    """The owner uploads each document with its groups (one job each) and runs one compare over them all."""
    header = {"Authorization": f"Bearer {owner}"}
    jobs = []
    for doc in docs:
        body = {"documents": [{"name": doc.name, "text": f"# {doc.title}\n\nThe codeword of project "
                                                          f"{doc.project} is {doc.codeword}."}],
                "groups": list(doc.groups)}
        accepted = httpx.post(f"{base}/v1/documents", json=body, headers=header, timeout=60)
        assert accepted.status_code == 202, accepted.text
        job = wait_job(base, accepted.json()["job"]["id"], owner)
        assert job["status"] == "succeeded", job
        jobs.append(job["id"])
    questions = [{"id": f"q{i}", "question": d.question, "answers": [d.codeword], "groups": list(d.groups)}
                 for i, d in enumerate(docs)]
    started = httpx.post(f"{base}/v1/compare", headers=header, timeout=60, json={
        "name": "acl-run", "questions": questions,
        "settings": {"arms": [{"name": "rx", "strategy": "rag", "generator": "extractive"}],
                     "training": {"groups": ["red"]}, "probes": {"leak_caller_groups": ["red"]}}})
    assert started.status_code == 202, started.text
    compare_job = started.json()["id"]
    deadline = time.monotonic() + 120
    while (run := httpx.get(f"{base}/v1/compare/{compare_job}", headers=header).json())["status"] in (
            "queued", "running"):
        assert time.monotonic() < deadline, "the compare job did not finish"
        time.sleep(0.2)
    return [*jobs, compare_job], run["result"]["name"]


def responses_seen_by(base: str, key: str, docs: list[SecretDoc], jobs: list[str],
                      report: str) -> list[tuple[str, str]]:
    """(request, response body) of every route this key can call, for every question and document id."""
    header = {"Authorization": f"Bearer {key}"}
    seen: list[tuple[str, str]] = []
    with httpx.Client(base_url=base, headers=header, timeout=120) as client:
        def get(path: str, **params: str) -> None:
            seen.append((f"GET {path} {params}", client.get(path, params=params).text))

        def post(path: str, body: dict) -> None:
            seen.append((f"POST {path} {json.dumps(body)}", client.post(path, json=body).text))

        models = [m["id"] for m in client.get("/v1/models").json()["data"]]
        for doc in docs:
            for model in models:
                for stream in (False, True):
                    post("/v1/ask", {"question": doc.question, "strategy": model, "stream": stream})
                    post("/v1/chat/completions", {"model": model, "stream": stream,
                                                  "messages": [{"role": "user", "content": doc.question}]})
        get("/v1/documents")
        for doc in docs:
            get(f"/v1/documents/{doc.name}")
            get("/v1/audit", doc=doc.name)
        get("/v1/audit")
        for job in jobs:
            get(f"/v1/jobs/{job}")
            get(f"/v1/compare/{job}")
        get("/v1/reports")
        for filename in ("report.json", "report.html", "questions.jsonl", "answers.jsonl"):
            get(f"/reports/{report}/{filename}")
        link = client.post(f"/v1/reports/{report}/link")  # the web UI's frame: a link, then no header
        seen.append((f"POST /v1/reports/{report}/link", link.text))
        if link.status_code == 200:
            seen.append(("GET the report link", httpx.get(base + link.json()["url"]).text))
    return seen


def check_no_leak(tmp_path, embedder, docs: list[SecretDoc], keys: list[DrawnKey]) -> None:
    # Limits far above the sweep's rate: a 429 would hide a response from the check, not pass it.
    settings_ = ServeSettings(serve=ServeConfig(home=tmp_path / "home", reports=tmp_path / "reports",
                                                limits=LimitsConfig(rate_per_minute=1e6, burst=100_000)))
    store = KeyStore(settings_.serve.keys_file)
    owner = store.create(GROUPS, admin=True, name="owner")[1]
    issued = [store.create(k.groups, admin=k.admin, name=f"k{i}")[1] for i, k in enumerate(keys)]
    with running(create_app(tmp_path / "kb", settings_, embedder=embedder)) as base:
        jobs, report = upload_and_compare(base, owner, docs)
        owner_sees = "\n".join(body for _, body in responses_seen_by(base, owner, docs, jobs, report))
        assert all(d.codeword in owner_sees for d in docs)  # the secrets are findable: the check can fail
        assert str(tmp_path) in owner_sees  # and so are the server's paths (the report's knowledge base)
        for key, secret_key in zip(keys, issued, strict=True):
            hidden = hidden_from(key, docs)
            for request, body in responses_seen_by(base, secret_key, docs, jobs, report):
                leaked = [s for s in hidden if s in body and s not in request]  # an echo of the request is none
                assert not leaked, f"key {key} saw {leaked}: {request} -> {body[:400]}"
                assert key.admin or str(tmp_path) not in body.replace("\\/", "/"), f"server path: {request}"


SETTINGS = {"deadline": None, "phases": [Phase.explicit, Phase.generate],  # a server per example: no shrinking
            "derandomize": True, "database": None,
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]}


@settings(max_examples=8, **SETTINGS)
@given(docs=corpora(), keys=drawn_keys)
def test_no_key_reads_a_byte_outside_its_groups(tmp_path_factory, embedder, docs, keys):
    check_no_leak(tmp_path_factory.mktemp("acl"), embedder, docs, keys)


@pytest.mark.slow
@settings(max_examples=60, **{**SETTINGS, "derandomize": False})
@given(docs=corpora(), keys=drawn_keys)
def test_no_key_reads_a_byte_outside_its_groups_long(tmp_path_factory, embedder, docs, keys):
    check_no_leak(tmp_path_factory.mktemp("acl"), embedder, docs, keys)
