"""Compare reports (`tailor serve --reports DIR`), for admin keys only, and of those only the reports made
with groups the key holds: a report may quote documents of the groups its run was made with. Another
report is a 404, exactly as a missing one. The files are served read-only, never listed beyond a report's
own folder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse

from tailor.serve.access import visible
from tailor.serve.auth import Admin, State
from tailor.serve.errors import ApiError

router = APIRouter(tags=["reports"])

# A report opened outside the web UI's sandboxed frame still may not run scripts with this origin.
REPORT_HEADERS = {"Content-Security-Policy": "sandbox allow-scripts", "X-Content-Type-Options": "nosniff"}


@router.get("/v1/reports")
def list_reports(admin: Admin, state: State) -> list[dict[str, Any]]:
    """The reports this key may read (sub-folders of the reports folder that hold a report.html), newest first."""
    return [report.to_dict() for report in state.reports.list() if visible(report.groups, admin)]


@router.get("/reports/{name}/{filename}")
def report_file(name: str, filename: str, admin: Admin, state: State) -> FileResponse:
    """A file of one report (report.html, or a file beside it)."""
    found = state.reports.file(name, filename)
    if found is None or not visible(found[1], admin):
        raise ApiError(404, f"name: no report file {name}/{filename}", "name")
    return FileResponse(found[0], headers=REPORT_HEADERS)
