"""The Python API in twenty lines: build a knowledge base, search it as different groups.

    python examples/quickstart.py [KB_DIR]
"""

import sys
import tempfile
from pathlib import Path

from tailor.kb.knowledge_base import KnowledgeBase

folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "kb"
docs = folder.parent / "docs"
(docs / "hr").mkdir(parents=True, exist_ok=True)
(docs / "returns.md").write_text("# Returns\n\nLooms can be returned within 45 days of delivery.\n")
(docs / "hr" / "bands.md").write_text("# Salary bands\n\nBand L4 pays 71,000 to 84,000 euros.\n")
(docs / "_meta.yaml").write_text("files:\n  hr/bands.md:\n    groups: [hr]\n")

kb = KnowledgeBase.open(folder)
report = kb.ingest([docs])  # a second run re-embeds nothing: only changed files are indexed
print(f"version {kb.version}: {len(report.added)} added, {report.chunks} chunks")

for groups in (["public"], ["hr"]):
    result = kb.search("What does band L4 pay?", k=1, groups=groups)
    hit = result.hits[0]
    print(f"as {groups}: {hit.chunk.doc_id} [{hit.chunk.start}:{hit.chunk.end}] {hit.chunk.text!r}")
