"""Compare runs as jobs (admin): `POST /v1/compare` starts `tailor compare` on the served knowledge base,
`GET /v1/compare/{id}` reports its progress and, when done, where its report is.

A run writes into the reports folder (`tailor serve --reports DIR`), so the web UI lists its report
when it finishes. Runs have their own job queue: a compare of many minutes never holds up ingestion.
Every group the request names must be the key's (`tailor.serve.compare_access`), and every model,
endpoint or template it names one the server offers (`tailor.serve.request_names`), checked before the
run starts; the run's job and report record those groups, and only keys holding them all see either.

A report's folder is its name with a random suffix (`name-1f2e3d4c`): a name never collides with a report
of another admin, so the answer to a request says nothing about reports the key cannot see.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tailor.evaluate.compare import CompareConfig, run_compare
from tailor.evaluate.compare.questions import Question, parse_question
from tailor.finetune.registry import AdapterRegistry
from tailor.kb.config import KBConfig
from tailor.serve.access import visible
from tailor.serve.auth import Admin, State
from tailor.serve.compare_access import check_compare
from tailor.serve.errors import ApiError, validation_error
from tailor.serve.jobs import JobHandle
from tailor.serve.request_names import ServerNames, require_server_names
from tailor.serve.schemas import JobOut
from tailor.serve.state import ServeState

router = APIRouter(prefix="/v1", tags=["compare"])
RUN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


class CompareRequest(BaseModel):
    """A compare run on the served knowledge base; `settings` takes any compare.yaml field but the paths."""

    model_config = ConfigDict(extra="forbid", strict=True)

    questions: list[dict[str, Any]] = Field(min_length=1, description="Question records (as questions.jsonl)")
    name: str | None = Field(
        None, description="Report name (letters, digits, . _ -); its folder is the name and a random suffix"
    )
    settings: dict[str, Any] = Field(default_factory=dict, description="compare.yaml fields: arms, base_model, ...")


def server_names(state: ServeState) -> ServerNames:
    """What this server offers a compare request: its endpoints, rerankers and embedding model."""
    serve, kb = state.settings.serve, state.settings.kb or KBConfig()
    rerankers = (*serve.rerankers, *filter(None, [kb.retrieval.reranker]))  # the server's own search's too
    return ServerNames({name: e.endpoint() for name, e in serve.endpoints.items()}, rerankers,
                       (kb.index.embedder.model,))


def _config(request: CompareRequest, state: ServeState, folder: Path) -> CompareConfig:
    require_server_names(request.settings, server_names(state))
    data = {**request.settings, "kb": state.kb.reader.uri, "home": str(state.settings.serve.home),
            "questions": str(folder / "questions.jsonl"), "out": str(folder)}
    try:  # strict, as the other bodies: "5" is not a number, nor true a 1
        return CompareConfig.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise validation_error(exc.errors(), ("settings",)) from exc


def _questions(request: CompareRequest) -> list[Question]:
    questions = []
    for index, record in enumerate(request.questions):
        try:
            questions.append(parse_question(record, f"questions[{index}]", default_id=f"q{index}"))
        except ValueError as exc:
            raise ApiError(422, str(exc), f"questions[{index}]") from exc
    return questions


def _write_questions(request: CompareRequest, folder: Path) -> None:
    lines = [json.dumps(record, ensure_ascii=False) for record in request.questions]
    (folder / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


@router.post("/compare", status_code=202, response_model=JobOut)
def start_compare(request: CompareRequest, admin: Admin, state: State) -> dict[str, Any]:
    """Start a compare run as a background job (admin keys only)."""
    root = state.reports.root
    if root is None:
        raise ApiError(409, "reports: start the server with --reports DIR to run compares", "reports")
    if request.name is not None and not RUN_NAME.match(request.name):
        raise ApiError(422, "name: letters, digits, '.', '_' and '-' only (at most 64)", "name")
    name = f"{request.name or 'compare'}-{secrets.token_hex(4)}"
    folder = root / name
    config = _config(request, state, folder)
    questions = _questions(request)
    config, groups = check_compare(config, questions, admin, AdapterRegistry(state.settings.serve.home),
                                   lambda doc_id: state.kb.reader.document(doc_id, admin.groups) is not None)
    config = config.model_copy(update={"report_groups": list(groups)})
    folder.mkdir(parents=True)  # 2^32 suffixes a name: a taken one is a server fault, not the caller's
    state.reports.record(folder, groups)
    _write_questions(request, folder)

    def work(handle: JobHandle) -> dict[str, Any]:
        result = run_compare(config, progress=handle.progress, log=lambda message: None)
        report = result.report
        return {"name": name, "report": f"/reports/{name}/report.html",
                "recommendation": report["recommendation"], "metrics": report["metrics"],
                "skipped": {a["name"]: a["skip_reason"] for a in report["arms"] if a["status"] != "ran"}}

    return state.compare_jobs.submit("compare", admin.id, work, groups).to_dict()


@router.get("/compare/{job_id}", response_model=JobOut)
def get_compare(job_id: str, admin: Admin, state: State) -> dict[str, Any]:
    """Status and progress per phase of a compare run; when it succeeded, its report and recommendation."""
    job = state.compare_jobs.get(job_id)
    if job is None or not visible(job.groups, admin):
        raise ApiError(404, f"job_id: no compare run {job_id!r}", "job_id")
    return job.to_dict()
