"""`make demo`: build a knowledge base from the bundled handbook and run a few searches.

The compare issue upgrades this to `tailor compare examples/handbook`; for now it shows the
knowledge base end to end: ingest (incremental: a second run re-embeds nothing), hybrid search,
and access groups enforced inside the search.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HANDBOOK = Path(__file__).resolve().parent / "handbook"
OUT = Path(os.environ.get("TAILOR_DEMO_OUT", Path.cwd() / "out" / "demo"))


def tailor(*args: str) -> None:
    print(f"\n$ tailor {' '.join(args)}", flush=True)
    code = subprocess.call([sys.executable, "-m", "tailor.cli", *args])
    if code != 0:
        sys.exit(code)


def main() -> None:
    kb = str(OUT / "kb")
    tailor("ingest", str(HANDBOOK / "docs"), "--kb", kb)
    tailor("kb", "stats", "--kb", kb)
    tailor("search", "How much does the S200 loom cost?", "--kb", kb, "-k", "3")
    tailor("search", "salary band for a senior engineer", "--kb", kb, "-k", "3")
    tailor("search", "salary band for a senior engineer", "--kb", kb, "-k", "3", "--as-group", "hr")
    print(f"\nKnowledge base written to {kb}")


if __name__ == "__main__":
    main()
