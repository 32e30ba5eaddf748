"""GET /v1/audit: the recorded answers (ids and hashes, never text), for admin keys.

An admin sees the answers given to callers whose groups are all among its own: every document such
an answer used was readable by the admin's groups, so the trail leaks nothing beyond them; a document
that is no longer within them is flagged deleted, as one that is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from tailor.audit import mark_deleted
from tailor.serve.auth import Admin, State

router = APIRouter(prefix="/v1", tags=["audit"])


@router.get("/audit")
def audit(
    admin: Admin,
    state: State,
    doc: Annotated[str | None, Query(description="Answers given or citing this document id")] = None,
    key: Annotated[str | None, Query(description="Answers to this caller (an API key's id)")] = None,
    since: Annotated[datetime | None, Query(description="From this ISO 8601 time (UTC unless it has a zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="Most answers returned, newest first")] = 1000,
    outcome: Annotated[
        Literal["answered", "refused", "interrupted"] | None,
        Query(description="Only answers that ended so: refused (`reason` says why) or interrupted streams"),
    ] = None,
) -> list[dict[str, Any]]:
    """Answers and refusals by document, caller and time (filters combine), newest first; deleted documents
    flagged."""
    allowed = set(admin.groups)
    entries = [e for e in state.audit.query(doc_id=doc, key_id=key, since=since, limit=limit, outcome=outcome)
               if set(e.groups) <= allowed]
    reader = state.kb.reader  # a document since moved outside the admin's groups reads as deleted, as to its search
    return [entry.to_dict() for entry in mark_deleted(entries, lambda d: reader.document(d, admin.groups) is not None)]
