"""Compare reports (`tailor serve --reports DIR`), for admin keys only, and of those only the reports made
with groups the key holds: a report may quote documents of the groups its run was made with. Another
report is a 404, exactly as a missing one. The files are served read-only, never listed beyond a report's
own folder.

A report file is read with the key's bearer header, or, in the web UI's frame (which cannot send one),
with the `access` value of a link the key asked for (`serve/report_links.py`); the same checks apply."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Security
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials

from tailor.serve.access import visible
from tailor.serve.auth import Admin, State, admit, authenticate, bearer, require_admin
from tailor.serve.errors import ApiError
from tailor.serve.keys import ApiKey
from tailor.serve.reports import REPORT

router = APIRouter(tags=["reports"])

# The report's own <meta> policy allows only its own script (by hash) and inline styles. This policy adds
# an opaque origin (`sandbox`, as the UI's frame has, also when the URL is opened on its own: the report's
# script never reaches this origin's storage or API) and lets only this server's pages frame it.
REPORT_HEADERS = {
    "Content-Security-Policy": "sandbox allow-scripts; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
ACCESS_HELP = "A report link's access value (POST /v1/reports/{name}/link), for a frame that cannot send a key."


async def report_reader(
    name: str,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    access: Annotated[str | None, Query(description=ACCESS_HELP, max_length=200)] = None,
) -> ApiKey:
    """The admin key reading report `name`: the bearer key, else the key a link for this report was issued to."""
    if credentials is not None or access is None:
        return await require_admin(await authenticate(state, credentials))
    key = state.report_links.check(access, name, state.keys)
    if key is None:
        raise ApiError(401, "access: the report link is expired or not valid; open the report again", "access")
    return await require_admin(admit(state, key))


ReportReader = Annotated[ApiKey, Depends(report_reader)]


@router.get("/v1/reports")
def list_reports(admin: Admin, state: State) -> list[dict[str, Any]]:
    """The reports this key may read (sub-folders of the reports folder that hold a report.html), newest first."""
    return [report.to_dict() for report in state.reports.list() if visible(report.groups, admin)]


@router.post("/v1/reports/{name}/link")
def report_link(name: str, admin: Admin, state: State) -> dict[str, Any]:
    """A URL that opens report `name` as this key for the next minute, without the key in it (for a frame)."""
    found = state.reports.file(name, REPORT)
    if found is None or not visible(found[1], admin):
        raise ApiError(404, f"name: no report {name}", "name")
    access = state.report_links.issue(admin, name)
    return {"url": f"/reports/{name}/{REPORT}?access={access}", "expires_in": state.report_links.ttl_seconds}


@router.get("/reports/{name}/{filename}")
def report_file(name: str, filename: str, reader: ReportReader, state: State) -> FileResponse:
    """A file of one report (report.html, or a file beside it)."""
    found = state.reports.file(name, filename)
    if found is None or not visible(found[1], reader):
        raise ApiError(404, f"name: no report file {name}/{filename}", "name")
    return FileResponse(found[0], headers=REPORT_HEADERS)
