"""Configuration files: every error names the file, and the section and field when there is one."""

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from tailor.config_files import ConfigFileError, read_mapping, validate


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1)
    mode: str = "hybrid"


@pytest.mark.parametrize("name, text, problem", [
    ("bad.yaml", "ask: [1, 2\n", r"bad\.yaml: not valid YAML at line 2, column 1"),
    ("bad.toml", "top_k = \n", r"bad\.toml: not valid TOML"),
    ("list.yaml", "- a\n- b\n", r"list\.yaml: expected a mapping of settings, got list"),
])
def test_unreadable_files_name_the_file_and_where(tmp_path, name, text, problem):
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigFileError, match=problem):
        read_mapping(tmp_path / name)


def test_a_missing_file_and_an_empty_one(tmp_path):
    with pytest.raises(ConfigFileError, match="nope.yaml: cannot read the file"):
        read_mapping(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "empty.yaml") == {}
    (tmp_path / "ok.toml").write_text("top_k = 3\n")
    assert read_mapping(tmp_path / "ok.toml") == {"top_k": 3}


def test_validation_names_section_field_and_value():
    with pytest.raises(ConfigFileError) as raised:
        validate(Settings, {"top_k": 0, "colour": "red"}, Path("ask.yaml"), "ask")
    message = str(raised.value)
    assert message.startswith("ask.yaml: ")
    assert "ask.top_k: Input should be greater than or equal to 1 (got 0)" in message
    assert "ask.colour: Extra inputs are not permitted (got 'red')" in message
    assert validate(Settings, {"top_k": 2}, None).top_k == 2
