"""Uploaded documents: staged to disk within the limits, then ingested by a background job.

A staged file keeps only its sanitised base name, which becomes the document id. The job loads each
file with its loader (no sidecar: groups come from the request), refuses documents that would leave
the uploader's groups or replace a document the uploader cannot see, and commits the rest as one
version. The staging folder is removed once the job is done; the knowledge base keeps the text.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import UploadFile

from tailor.kb.loaders.load import load_file
from tailor.kb.loaders.sidecar import Sidecar
from tailor.records import Document, LoadError
from tailor.serve.config import LimitsConfig
from tailor.serve.jobs import JobHandle, Work
from tailor.serve.keys import ApiKey
from tailor.serve.knowledge import ServedKnowledgeBase
from tailor.serve.limits import safe_filename

READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class StagedFile:
    name: str  # sanitised base name: the document id
    path: Path
    title: str | None = None


class UploadStager:
    """Writes an upload's files into a fresh folder under `root`, enforcing names, types and sizes."""

    def __init__(self, root: Path, limits: LimitsConfig) -> None:
        self.root = Path(root)
        self.limits = limits

    def new_folder(self) -> Path:
        folder = self.root / secrets.token_hex(8)
        folder.mkdir(parents=True)
        return folder

    def _name(self, raw: str, field: str, taken: set[str]) -> str:
        name = safe_filename(raw, self.limits.allowed_extensions, field)
        if name in taken:
            raise ValueError(f"{field}: {name!r} is given twice in this upload")
        taken.add(name)
        return name

    async def save_files(self, folder: Path, uploads: Sequence[UploadFile]) -> list[StagedFile]:
        if len(uploads) > self.limits.max_files:
            raise ValueError(f"files: {len(uploads)} files, at most {self.limits.max_files} per upload")
        staged: list[StagedFile] = []
        taken: set[str] = set()
        for i, upload in enumerate(uploads):
            name = self._name(upload.filename or "", f"files[{i}].filename", taken)
            path, size = folder / name, 0
            with path.open("wb") as out:
                while block := await upload.read(READ_BLOCK):
                    size += len(block)
                    if size > self.limits.max_file_bytes:
                        raise ValueError(f"files[{i}]: {name} is larger than {self.limits.max_file_bytes} bytes")
                    out.write(block)
            staged.append(StagedFile(name, path))
        return staged

    def save_texts(self, folder: Path, documents: Sequence[Any]) -> list[StagedFile]:
        """`documents`: items with `name`, `text` and `title` (schemas.TextDocument)."""
        if len(documents) > self.limits.max_files:
            raise ValueError(f"documents: {len(documents)} documents, at most {self.limits.max_files} per upload")
        staged: list[StagedFile] = []
        taken: set[str] = set()
        for i, document in enumerate(documents):
            name = self._name(document.name, f"documents[{i}].name", taken)
            data = document.text.encode("utf-8")
            if len(data) > self.limits.max_file_bytes:
                raise ValueError(f"documents[{i}].text: larger than {self.limits.max_file_bytes} bytes")
            (folder / name).write_bytes(data)
            staged.append(StagedFile(name, folder / name, document.title))
        return staged


def ingest_job(
    kb: ServedKnowledgeBase, folder: Path, files: list[StagedFile], groups: tuple[str, ...], uploader: ApiKey
) -> Work:
    """The work of one upload job: load, check, ingest, clean up."""

    def work(handle: JobHandle) -> dict[str, Any]:
        try:
            documents: dict[str, Document] = {}
            for done, staged in enumerate(files, start=1):
                for item in load_file(staged.path, folder, Sidecar(), default_groups=groups):
                    if isinstance(item, LoadError):
                        handle.error(staged.name, item.reason.replace(str(staged.path), staged.name))
                    elif problem := _refusal(kb, item, uploader, documents):
                        handle.error(staged.name, problem)
                    else:
                        documents[item.id] = _as_upload(item, staged)
                handle.progress("load", done, len(files))
            report = kb.writer.ingest_documents(list(documents.values()), on_progress=handle.progress)
            for error in report.errors:
                handle.error(error.path.removeprefix("upload:"), error.reason)
            summary = report.to_dict()
            return {k: summary[k] for k in ("version", "added", "updated", "unchanged", "chunks", "seconds")}
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return work


def _refusal(
    kb: ServedKnowledgeBase, document: Document, uploader: ApiKey, accepted: dict[str, Document]
) -> str | None:
    """Why this document may not be written by `uploader` with the `accepted` ones, or None."""
    if document.id in accepted:
        return f"duplicate document id {document.id!r} in this upload"
    outside = sorted(set(document.groups) - set(uploader.groups))
    if outside:
        return f"groups {outside} are not groups of key {uploader.id}"
    existing = kb.writer.store.get_document(document.id)
    if existing is not None and not set(existing.groups) & set(uploader.groups):
        # Never says why: the key may not learn that a document it cannot read exists (docs/security.md).
        return f"document id {document.id!r} cannot be written by this key; upload it under another name"
    return None


def _as_upload(document: Document, staged: StagedFile) -> Document:
    """Sources name the upload, not a path on the server."""
    source = f"upload:{staged.name}"
    return replace(
        document, source=source, title=staged.title or document.title, metadata={**document.metadata, "path": source}
    )
