"""Where Tailor keeps what it builds once and reuses: models, adapters, runs, keys ($TAILOR_HOME)."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """The project's data dir: $TAILOR_HOME, else ./.tailor."""
    return Path(os.environ.get("TAILOR_HOME", ".tailor"))
