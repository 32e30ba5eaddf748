"""Compare reports (`tailor serve --reports DIR`), for admin keys only: a report may quote documents
of the groups its run was made with. The files are served read-only, never listed beyond a report's
own folder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tailor.serve.auth import Admin, State
from tailor.serve.errors import ApiError

router = APIRouter(tags=["reports"])

# A report opened outside the web UI's sandboxed frame still may not run scripts with this origin.
REPORT_HEADERS = {"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff"}


@router.get("/v1/reports")
def list_reports(admin: Admin, state: State) -> list[dict[str, Any]]:
    """Sub-folders of the reports folder that hold a report.html, newest first."""
    return [report.to_dict() for report in state.reports.list()]


@router.get("/reports/{name}/{filename}")
def report_file(name: str, filename: str, admin: Admin, state: State) -> FileResponse:
    """A file of one report (report.html, or a file beside it)."""
    path = state.reports.file(name, filename)
    if path is None:
        raise ApiError(404, f"name: no report file {name}/{filename}", "name")
    return FileResponse(path, headers=REPORT_HEADERS)
