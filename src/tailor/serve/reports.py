"""Compare reports on disk: the sub-folders of one folder that hold a `report.html`, served read-only.

Only names that `ReportShelf.list` would show can be opened, and only plain files directly inside
them: no `..`, no sub-paths, no hidden files, no links leading out of the folder.

A report may quote documents of the groups its run was made with, so each report has groups, and a key
sees only the reports within its own (`tailor.serve.access.visible`). A run started by the server records
them in the hidden file `.access.json` of its folder (`ReportShelf.record`); a report written by
`tailor compare` has none, and counts as made with every group of the knowledge base it ran on (its
report.json's `kb.groups`). A report whose groups cannot be read is shown to no key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPORT = "report.html"
ACCESS = ".access.json"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ReportInfo:
    name: str
    modified: float
    files: list[str]
    groups: tuple[str, ...] | None  # None: unknown, so shown to no key

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "modified": self.modified, "files": self.files,
                "url": f"/reports/{self.name}/{REPORT}", "groups": list(self.groups or ())}


def report_groups(folder: Path) -> tuple[str, ...] | None:
    """The groups a report was made with: its access record, else its report.json's knowledge-base groups."""
    try:
        if (folder / ACCESS).is_file():
            groups = json.loads((folder / ACCESS).read_text(encoding="utf-8"))["groups"]
        else:
            groups = list(json.loads((folder / "report.json").read_text(encoding="utf-8"))["kb"]["groups"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        return None
    return tuple(sorted(groups))


class ReportShelf:
    def __init__(self, root: Path | None) -> None:
        self.root = root.resolve() if root else None

    def list(self) -> list[ReportInfo]:
        """Reports, newest first (by the time their report.html was written)."""
        if self.root is None or not self.root.is_dir():
            return []
        reports = []
        for folder in self.root.iterdir():
            page = folder / REPORT
            if _PLAIN_NAME.match(folder.name) and folder.is_dir() and page.is_file():
                files = sorted(p.name for p in folder.iterdir() if _PLAIN_NAME.match(p.name) and p.is_file())
                reports.append(ReportInfo(folder.name, page.stat().st_mtime, files, report_groups(folder)))
        return sorted(reports, key=lambda r: (-r.modified, r.name))

    def file(self, name: str, filename: str) -> tuple[Path, tuple[str, ...] | None] | None:
        """The path of `filename` inside report `name` with the report's groups, or None when it is not a
        file of a listed report."""
        if self.root is None or not (_PLAIN_NAME.match(name) and _PLAIN_NAME.match(filename)):
            return None
        folder = self.root / name
        path = (folder / filename).resolve()
        if path.parent != folder.resolve() or folder.resolve().parent != self.root:
            return None  # a link pointing outside the reports folder
        if not (folder / REPORT).is_file() or not path.is_file():
            return None
        return path, report_groups(folder)

    def record(self, folder: Path, groups: Sequence[str]) -> None:
        """Write the access record of a report folder the server is about to fill."""
        (folder / ACCESS).write_text(json.dumps({"groups": sorted(groups)}) + "\n", encoding="utf-8")
