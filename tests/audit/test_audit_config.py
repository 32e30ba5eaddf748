"""Where the trail lives by default, and the `audit:` section of a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tailor.audit import AuditConfig, default_audit_dir


def test_default_folder_is_beside_a_local_kb_else_in_tailor_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TAILOR_HOME", str(tmp_path / "home"))
    assert default_audit_dir(tmp_path / "kb") == tmp_path / "kb" / "audit"
    assert default_audit_dir("milvus://db.internal:19530") == tmp_path / "home" / "audit"
    assert default_audit_dir(Path("milvus:/db.internal:19530")) == tmp_path / "home" / "audit"  # as --kb parses it
    assert default_audit_dir(tmp_path / "lite.db") == tmp_path / "home" / "audit"  # Milvus Lite
    assert default_audit_dir(None) == tmp_path / "home" / "audit"


def test_config_file_section(tmp_path):
    path = tmp_path / "tailor.yaml"
    path.write_text("ask:\n  top_k: 3\naudit:\n  question: keep\n  max_rows: 10\n")
    assert AuditConfig.from_file(path) == AuditConfig(question="keep", max_rows=10)
    path.write_text("ask:\n  top_k: 3\n")
    assert AuditConfig.from_file(path) == AuditConfig()
    assert AuditConfig().question == "hash" and AuditConfig().answer == "hash"
    path.write_text("audit:\n  answer: keep\n")  # answer text is never stored
    with pytest.raises(ValueError, match=r"tailor\.yaml: audit\.answer: Input should be"):
        AuditConfig.from_file(path)
