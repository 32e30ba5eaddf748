"""How the audit trail records answers, and where it lives by default."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tailor.config_files import read_mapping, validate
from tailor.home import default_home


class AuditConfig(BaseModel):
    """The `audit:` section of a YAML config; every writer applies its own to the rows it writes."""

    model_config = ConfigDict(extra="forbid")

    question: Literal["keep", "hash", "drop"] = Field(
        "hash",
        description="keep: the text (it may carry personal or restricted facts); hash: its sha256 only, enough to "
        "check whether a given question was asked (short questions can be guessed back); drop: nothing",
    )
    answer: Literal["hash", "drop"] = Field(
        "hash",
        description="hash: the answer's sha256 and length; drop: neither. The text is never stored: it may quote "
        "a restricted passage",
    )
    max_rows: int = Field(1_000_000, ge=1, description="Rows per file; a new file also starts every month (UTC)")
    durable: bool = Field(
        True, description="fsync every record (survives power loss); false: survives a killed process only"
    )
    busy_timeout_s: float = Field(30.0, gt=0, description="How long a writer waits for another process's write")

    @classmethod
    def from_file(cls, path: Path) -> AuditConfig:
        """The `audit:` section of a YAML file; defaults when it has none."""
        return validate(cls, read_mapping(path).get("audit") or {}, path, "audit")


def default_audit_dir(kb: str | Path | None = None) -> Path:
    """`<kb>/audit` for a knowledge base in a local folder, where its operator already keeps its data;
    `$TAILOR_HOME/audit` (default `./.tailor/audit`) for a Milvus knowledge base or none."""
    if kb is not None:
        from tailor.kb.knowledge_base import canonical_uri, store_scheme  # heavy: only when a KB is named

        uri = canonical_uri(kb)
        if store_scheme(uri) == "":
            return Path(uri) / "audit"
    return default_home() / "audit"
