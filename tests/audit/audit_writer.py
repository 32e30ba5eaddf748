"""A process that records numbered answers (the SIGKILL and multi-process tests run it).

    python audit_writer.py FOLDER CALLER COUNT MAX_ROWS     COUNT < 0: until killed
"""

from __future__ import annotations

import sys
from pathlib import Path

from tailor.audit import AuditConfig, AuditLog
from tailor.records import Answer, Chunk, Citation, Hit


def numbered_answer(i: int) -> Answer:
    """Answer number i: five retrieved chunks of documents doc<i%7>.. and a citation of the first."""
    hits = [Hit(Chunk(f"doc{i % 7 + k}#{k}", f"doc{i % 7 + k}", "text", 0, 4), 1.0 - k / 10, "T", "s") for k in range(5)]
    first = hits[0].chunk
    citation = Citation(1, first.id, first.doc_id, "T", "s", 0, 4, "text")
    return Answer(f"question {i}", f"answer {i}", citations=[citation], hits=hits, strategy="rag",
                  generator="extractive", timings_ms={"total": float(i)}, tokens_in=i, tokens_out=1)


def main(folder: str, caller: str, count: int, max_rows: int) -> None:
    with AuditLog.open(Path(folder), AuditConfig(question="keep", max_rows=max_rows)) as log:
        i = 0
        while count < 0 or i < count:
            log.record(numbered_answer(i), caller=caller, groups=["public"], kb_version=i)
            i += 1


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
