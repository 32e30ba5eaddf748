"""Configuration files: YAML (or JSON, TOML) mappings, read within bounds (`tailor.bounded`) and checked by
pydantic models.

Every error is a `ConfigFileError` (a ValueError) whose message names the file, then each bad field by
its dotted path within the file ("compare.yaml: arms.0.strategy: Input should be 'rag', ..."), so that
a command can print one line and exit instead of a traceback.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from tailor.bounded import MAX_BYTES, DataBoundError, check_shape, parse_json, parse_yaml

Model = TypeVar("Model", bound=BaseModel)


class ConfigFileError(ValueError):
    """A configuration file that cannot be read, parsed or validated; the message says where."""


def read_data(path: Path) -> Any:
    """The value in a YAML, JSON (.json) or TOML (.toml) file, read within the bounds of `tailor.bounded`
    (size, nesting depth, values with aliases expanded): a file past them is refused in milliseconds."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ConfigFileError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_BYTES:,} a settings file may hold")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read the file: {exc}") from exc
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
            check_shape(data)
            return data
        return parse_json(text) if path.suffix == ".json" else parse_yaml(text)
    except DataBoundError as exc:
        raise ConfigFileError(f"{path}: {exc}") from None
    except RecursionError:
        raise ConfigFileError(f"{path}: nested too deeply to read") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid TOML: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigFileError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc


def read_mapping(path: Path) -> dict[str, Any]:
    """The mapping in a YAML (.yaml/.yml), JSON or TOML file, bounded (`read_data`); an empty file is an
    empty mapping."""
    data = read_data(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return data


def mapping_field(data: dict[str, Any], key: str, path: Path | str, kind: type = dict) -> Any:
    """`data[key]`, which must be a `kind` (dict or list); a ConfigFileError naming file and field otherwise."""
    value = data.get(key)
    if not isinstance(value, kind):
        what = "missing" if key not in data else f"got {type(value).__name__} {value!r:.60}"
        raise ConfigFileError(f"{path}: {key}: expected a {'mapping' if kind is dict else kind.__name__}, {what}")
    return value


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


def inside(folder: Path, name: str | Path, field: str) -> Path:
    """`folder / name`, refused (ConfigFileError naming `field`) unless it stays inside `folder`: no absolute
    path, no `..`, no link that leads out. A settings file is data: it may pick a file of its folder, never
    name one elsewhere on the machine."""
    text = str(name)
    parts = Path(text).parts
    if not text or Path(text).is_absolute() or text.startswith("~") or ".." in parts or "\\" in text:
        raise ConfigFileError(f"{field}: {text!r} must name a file inside {folder} (no absolute path, no '..')")
    root = Path(folder).resolve()
    path = (root / text).resolve()
    if not path.is_relative_to(root):
        raise ConfigFileError(f"{field}: {text!r} leads out of {folder} through a link")
    return path
