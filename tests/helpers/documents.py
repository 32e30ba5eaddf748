"""Small valid files of the binary formats, built in memory, for loader tests that need a real one to start from."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF


def small_docx() -> bytes:
    """A docx with one heading and one paragraph."""
    document = docx.Document()
    document.add_heading("Handbook", level=1)
    document.add_paragraph("Leave is 25 days.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def small_pdf(text: str = "Leave is 25 days a year.") -> bytes:
    """A one-page pdf with `text` in its text layer."""
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    pdf.add_page()
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())
