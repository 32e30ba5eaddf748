"""Configuration files: YAML (or TOML) mappings checked by pydantic models.

Every error is a `ConfigFileError` (a ValueError) whose message names the file, then each bad field by
its dotted path within the file ("compare.yaml: arms.0.strategy: Input should be 'rag', ..."), so that
a command can print one line and exit instead of a traceback.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file that cannot be read, parsed or validated; the message says where."""


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping in a YAML (.yaml/.yml) or TOML (.toml) file; an empty file is an empty mapping."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the file: {exc}") from exc
    try:
        data = tomllib.loads(text) if Path(path).suffix == ".toml" else yaml.safe_load(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigFileError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def validate(model: type[Model], data: Any, path: Path | str | None, section: str | None = None) -> Model:
    """`model` from `data` (the file's `section`, or the whole file); errors name file, section and field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigFileError(describe(exc, path, section)) from None


def describe(exc: ValidationError, path: Path | str | None = None, section: str | None = None) -> str:
    """One line per bad field: "<file>: <section>.<field>: <problem> (got <value>)"."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in ((section,) if section else ()) + tuple(error["loc"]))
        value = error.get("input")
        got = f" (got {value!r})" if isinstance(value, str | int | float | bool) and error["type"] != "missing" else ""
        problems.append(f"{field or section or 'settings'}: {error['msg']}{got}")
    prefix = f"{path}: " if path is not None else ""
    return prefix + "; ".join(problems)
