"""Generate the PDF documents of the handbook corpus from their Markdown sources.

Usage (from the repository root):

    python examples/handbook/make_pdfs.py

Every ``pdf_sources/<dir>/<name>.md`` becomes ``docs/<dir>/<name>.pdf``. The sources
use a tiny Markdown subset: ``#``/``##``/``###`` headings, ``- `` bullet lines and
plain paragraphs. Output is deterministic (fixed creation date, no random ids), so
re-running the script produces byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from fpdf import FPDF

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "pdf_sources"
DOCS = HERE / "docs"
CREATION_DATE = dt.datetime(2026, 1, 15, 9, 0, 0, tzinfo=dt.UTC)
HEADING_SIZES = {1: 18, 2: 14, 3: 12}


class HandbookPDF(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.doc_title = title
        self.set_margins(20, 20, 20)
        self.set_auto_page_break(auto=True, margin=20)

    def header(self) -> None:
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, "Northwind Loom Oy", align="L")
        self.ln(10)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", "I", 8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 8, f"Page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0, 0, 0)


def _latin1(text: str) -> str:
    # Core PDF fonts only cover latin-1; fail loudly instead of writing '?' glyphs.
    text.encode("latin-1")
    return text


def render(src: Path, dst: Path) -> int:
    lines = src.read_text(encoding="utf-8").splitlines()
    title = next((ln[2:].strip() for ln in lines if ln.startswith("# ")), src.stem)
    pdf = HandbookPDF(title)
    pdf.set_title(title)
    pdf.set_author("Northwind Loom Oy")
    pdf.set_creator("examples/handbook/make_pdfs.py")
    pdf.set_producer("fpdf2")
    pdf.set_creation_date(CREATION_DATE)
    pdf.add_page()

    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            pdf.set_font("Helvetica", "", 11)
            pdf.multi_cell(0, 5.5, _latin1(" ".join(paragraph)), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2.5)
            paragraph.clear()

    for raw in lines:
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        if line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            text = line[level:].strip()
            pdf.ln(2 if level > 1 else 0)
            pdf.set_font("Helvetica", "B", HEADING_SIZES.get(level, 12))
            pdf.multi_cell(0, 7 if level == 1 else 6, _latin1(text), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif line.startswith("- "):
            flush()
            pdf.set_font("Helvetica", "", 11)
            pdf.set_x(pdf.l_margin + 4)
            pdf.multi_cell(0, 5.5, _latin1("- " + line[2:].strip()), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        else:
            paragraph.append(line.strip())
    flush()

    dst.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(dst))
    return pdf.pages_count


def main() -> int:
    sources = sorted(SOURCES.rglob("*.md"))
    if not sources:
        print(f"no sources found under {SOURCES}", file=sys.stderr)
        return 1
    for src in sources:
        rel = src.relative_to(SOURCES).with_suffix(".pdf")
        dst = DOCS / rel
        pages = render(src, dst)
        print(f"{dst.relative_to(HERE)}: {pages} page(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
