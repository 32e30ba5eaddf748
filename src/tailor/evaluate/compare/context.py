"""What every step of one compare run shares: its config, folders, progress and log lines, phase timings."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tailor.evaluate.compare.config import CompareConfig
from tailor.evaluate.compare.stats import estimate_dict
from tailor.kb.knowledge_base import KnowledgeBase

ProgressCallback = Callable[[str, int, int], None]
LogCallback = Callable[[str], None]


@dataclass
class RunContext:
    config: CompareConfig
    out: Path
    home: Path
    progress: ProgressCallback = lambda phase, done, total: None  # noqa: E731 - a default callback
    log: LogCallback = lambda message: None  # noqa: E731 - a default callback
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def work(self) -> Path:
        """The run's cache of answers, training data and the freshness copy of the KB."""
        return self.out / "work"

    def add_time(self, phase: str, seconds: float) -> None:
        """Add to a phase's time (one summed over the run, such as the time spent inside the arms' models)."""
        self.timings[phase] = self.timings.get(phase, 0.0) + seconds

    def estimate(self, values: Sequence[float]) -> dict[str, Any] | None:
        """The mean with its bootstrap CI, at the run's settings."""
        return estimate_dict(values, self.config.bootstrap, self.config.seed)


def kb_fingerprint(kb: KnowledgeBase) -> str:
    """The KB's content (documents and their fingerprints), independent of its version numbering."""
    hashes = kb.store.document_hashes()
    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()
