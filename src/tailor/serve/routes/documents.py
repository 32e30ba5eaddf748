"""Documents and jobs: upload (admin, a background ingestion job), list, read, delete (admin).

Every read is filtered by the caller's groups, and a document outside them is a 404, exactly as
one that does not exist. A job is shown only to keys holding every group it was made with. Where a
document came from on the server (its source path) is shown to admin keys only.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from tailor.kb.store import StoredDocument
from tailor.serve.access import visible
from tailor.serve.auth import Admin, Caller, State
from tailor.serve.errors import ApiError, invalid, validation_error
from tailor.serve.keys import ApiKey, parse_groups
from tailor.serve.schemas import DocumentOut, DocumentSummary, JobOut, TextUpload, UploadAccepted
from tailor.serve.state import ServeState
from tailor.serve.uploads import StagedFile, ingest_job

router = APIRouter(prefix="/v1", tags=["documents"])
Staged = tuple[list[StagedFile], tuple[str, ...]]  # the files of an upload and their access groups

COMPONENTS = "#/components/schemas/{model}"
_TEXT_UPLOAD = TextUpload.model_json_schema(ref_template=COMPONENTS)
UPLOAD_SCHEMAS: dict[str, Any] = {"TextUpload": _TEXT_UPLOAD, **_TEXT_UPLOAD.pop("$defs", {})}
"""The JSON form's models, added to the OpenAPI components (the route reads its body itself)."""
UPLOAD_DOC: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "groups": {"type": "string", "description": "Comma-separated access groups (default public)"}}}},
    "application/json": {"schema": {"$ref": COMPONENTS.format(model="TextUpload")}},
}}}


SERVER_METADATA = ("path",)  # metadata naming a file of the server


def _summary(doc: StoredDocument, reader: ApiKey) -> dict[str, Any]:
    """The document as `reader` may see it: a non-admin key gets its id for a source, no server paths."""
    metadata = doc.metadata if reader.admin else {k: v for k, v in doc.metadata.items() if k not in SERVER_METADATA}
    return {"id": doc.id, "title": doc.title, "source": doc.source if reader.admin else doc.id,
            "groups": list(doc.groups), "metadata": metadata, "version": doc.version, "chunks": doc.n_chunks}


def _upload_groups(raw: object, uploader: ApiKey) -> tuple[str, ...]:
    if raw is not None and not isinstance(raw, str | list):
        raise ApiError(422, "groups: give group names, e.g. hr,public", "groups")
    try:
        groups = parse_groups(raw or "public")
    except ValueError as exc:
        raise invalid(exc) from exc
    outside = sorted(set(groups) - set(uploader.groups))
    if outside:
        raise ApiError(403, f"groups: {outside} are not groups of key {uploader.id}", "groups")
    return groups


async def _read_form(request: Request, state: ServeState, uploader: ApiKey, folder: Path) -> Staged:
    limits = state.settings.serve.limits
    try:
        form = await request.form(max_files=limits.max_files, max_fields=16)
    except HTTPException as exc:  # Starlette's multipart parser: too many files or fields, a broken body
        field = "files" if "files" in str(exc.detail).lower() else "body"
        raise ApiError(422 if field == "files" else 400, f"{field}: {exc.detail}", field) from exc
    try:
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise ApiError(422, "files: attach one or more files as form field `files`", "files")
        groups = _upload_groups(form.get("groups"), uploader)
        return await state.uploads.save_files(folder, files), groups
    finally:
        await form.close()


async def _read_json(request: Request, state: ServeState, uploader: ApiKey, folder: Path) -> Staged:
    try:
        body = TextUpload.model_validate_json(await request.body())
    except ValidationError as exc:
        raise validation_error(exc.errors(), ("body",)) from exc
    groups = _upload_groups(body.groups, uploader)
    return state.uploads.save_texts(folder, body.documents), groups


UPLOAD_READERS: dict[str, Callable[[Request, ServeState, ApiKey, Path], Awaitable[Staged]]] = {
    "multipart/form-data": _read_form,
    "application/json": _read_json,
}


async def _stage(request: Request, state: ServeState, uploader: ApiKey) -> tuple[Path, list[StagedFile], tuple[str, ...]]:
    """Stage an upload's files in a fresh folder (removed again if the upload is refused)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    reader = UPLOAD_READERS.get(kind)
    if reader is None:
        raise ApiError(415, "content-type: send multipart/form-data (files) or application/json (text)",
                       "content-type")
    folder = state.uploads.new_folder()
    try:
        files, groups = await reader(request, state, uploader, folder)
    except ValueError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise invalid(exc) from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, files, groups


async def upload_documents(request: Request, uploader: Admin, state: State) -> dict[str, Any]:
    """Upload files (multipart `files`, `groups`) or text (JSON); ingestion runs as a job."""
    folder, files, groups = await _stage(request, state, uploader)
    work = ingest_job(state.kb, folder, files, groups, uploader)
    job = state.jobs.submit("ingest", uploader.id, work, groups)
    return {"job": job.to_dict(), "files": [f.name for f in files]}


@router.get("/documents", response_model=list[DocumentSummary])
def list_documents(caller: Caller, state: State) -> list[dict[str, Any]]:
    """The documents the caller's groups may read."""
    return [_summary(doc, caller) for doc in state.kb.reader.documents(caller.groups)]


@router.get("/documents/{doc_id:path}", response_model=DocumentOut)
def get_document(doc_id: str, caller: Caller, state: State) -> dict[str, Any]:
    """One document with its text (citations give character offsets into it)."""
    doc = state.kb.reader.document(doc_id, caller.groups)
    if doc is None:
        raise ApiError(404, f"doc_id: no document {doc_id!r}", "doc_id")
    return {**_summary(doc, caller), "text": doc.text}


@router.delete("/documents/{doc_id:path}", status_code=204)
def delete_document(doc_id: str, admin: Admin, state: State) -> Response:
    """Delete a document (a new knowledge-base version)."""
    if state.kb.reader.document(doc_id, admin.groups) is None:
        raise ApiError(404, f"doc_id: no document {doc_id!r}", "doc_id")
    state.kb.writer.remove([doc_id])
    return Response(status_code=204)


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, admin: Admin, state: State) -> dict[str, Any]:
    """Status, progress per phase, per-file errors and result of a background job."""
    job = state.jobs.get(job_id)
    if job is None or not visible(job.groups, admin):
        raise ApiError(404, f"job_id: no job {job_id!r}", "job_id")
    return job.to_dict()


def add_upload_route(app: FastAPI, max_upload_bytes: int) -> None:
    """POST /v1/documents, with its own body limit (larger than the other routes')."""
    app.add_api_route("/v1/documents", upload_documents, methods=["POST"], status_code=202, tags=["documents"],
                      response_model=UploadAccepted, openapi_extra=UPLOAD_DOC, max_body_size=max_upload_bytes)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generate().setdefault("components", {}).setdefault("schemas", {}).update(UPLOAD_SCHEMAS)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]
