"""Compare reports on disk: the sub-folders of one folder that hold a `report.html`, served read-only.

Only names that `ReportShelf.list` would show can be opened, and only plain files directly inside
them: no `..`, no sub-paths, no hidden files, no links leading out of the folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPORT = "report.html"
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ReportInfo:
    name: str
    modified: float
    files: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "modified": self.modified, "files": self.files,
                "url": f"/reports/{self.name}/{REPORT}"}


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
                reports.append(ReportInfo(folder.name, page.stat().st_mtime, files))
        return sorted(reports, key=lambda r: (-r.modified, r.name))

    def file(self, name: str, filename: str) -> Path | None:
        """The path of `filename` inside report `name`, or None when it is not a file of a listed report."""
        if self.root is None or not (_PLAIN_NAME.match(name) and _PLAIN_NAME.match(filename)):
            return None
        folder = self.root / name
        path = (folder / filename).resolve()
        if path.parent != folder.resolve() or folder.resolve().parent != self.root:
            return None  # a link pointing outside the reports folder
        if not (folder / REPORT).is_file() or not path.is_file():
            return None
        return path
