"""The runnable examples the README points at must keep running."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_python_quickstart(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "quickstart.py"), str(tmp_path / "kb")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("version 1: 2 added")
    assert "as ['public']: returns.md" in lines[1]  # the public caller never sees the salary bands
    assert "as ['hr']: hr/bands.md" in lines[2] and "71,000" in lines[2]
