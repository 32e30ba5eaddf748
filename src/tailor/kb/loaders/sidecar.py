"""The `_meta.yaml` sidecar of a root folder: default groups and per-file groups, title, metadata.

defaults:
  groups: [public]
files:
  hr/salary-bands.md:
    groups: [hr]
    title: "Optional title override"
    metadata: {owner: people-team}

Groups decide who may see a document, so mistakes fail closed: a sidecar that cannot be read or has
the wrong shape (bad YAML, not a mapping, unknown top-level keys, bad defaults) blocks every file
under its root, and a malformed entry blocks just the file it names.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tailor.kb.loaders.base import LoadFailure, as_groups, plain_data
from tailor.kb.loaders.yaml_values import load_yaml
from tailor.records import LoadError

SIDECAR = "_meta.yaml"
_TOP_KEYS = {"defaults", "files"}
_DEFAULT_KEYS = {"groups"}
_ENTRY_KEYS = {"groups", "title", "metadata"}


@dataclass(frozen=True)
class FileMeta:
    groups: tuple[str, ...] | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sidecar:
    default_groups: tuple[str, ...] | None = None
    files: dict[str, FileMeta] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)  # files whose entry is malformed: not loaded
    path: Path | None = None  # where it was read from; None when the root has no sidecar
    malformed: bool = False  # the whole sidecar is unusable: no file under its root is loaded


def _mapping(value: Any, what: str, keys: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LoadFailure(f"{what} must be a mapping, got {value!r}")
    unknown = sorted(str(k) for k in value if k not in keys)
    if unknown:
        raise LoadFailure(f"{what}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(keys))})")
    return value


def _entry(value: Any) -> FileMeta:
    entry = _mapping(value, "entry", _ENTRY_KEYS)
    title = entry.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        raise LoadFailure(f"title must be a non-empty string, got {title!r}")
    metadata = entry.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise LoadFailure(f"metadata must be a mapping, got {metadata!r}")
    groups = as_groups(entry["groups"]) if entry.get("groups") is not None else None
    return FileMeta(groups=groups, title=title.strip() if title else None, metadata=plain_data(metadata))


def read_sidecar(root: Path) -> tuple[Sidecar, list[LoadError]]:
    """The sidecar of `root` (empty when there is none) and what is wrong with it.

    A sidecar that cannot be used as a whole comes back `malformed` (every file under `root` is then
    skipped) with one error giving the reason.
    """
    path = root / SIDECAR
    if not os.path.lexists(path):  # a dangling link or a folder of that name is malformed, not absent
        return Sidecar(), []
    try:
        data = _mapping(load_yaml(path.read_text(encoding="utf-8")), "sidecar", _TOP_KEYS)
        defaults = _mapping(data.get("defaults"), "defaults", _DEFAULT_KEYS)
        entries = data.get("files") or {}
        if not isinstance(entries, dict):
            raise LoadFailure(f"files must be a mapping of paths to entries, got {entries!r}")
        default_groups = as_groups(defaults["groups"]) if defaults.get("groups") is not None else None
    except (OSError, yaml.YAMLError, UnicodeDecodeError, LoadFailure) as exc:
        reason = f"malformed sidecar, no file under {root} is loaded: {exc}"
        return Sidecar(path=path, malformed=True), [LoadError(str(path), reason)]
    sidecar, errors = Sidecar(default_groups=default_groups, path=path), []
    for key, value in entries.items():
        name = str(key).removeprefix("./")
        canonical = posixpath.normpath(name)
        if canonical != name or canonical.startswith(("/", "../")):
            # A key that does not spell the file's id would silently miss it: block the file instead.
            sidecar.blocked.add(canonical)
            errors.append(LoadError(str(path), f"entry {name!r} is not a plain relative path; the file is not loaded"))
            continue
        if not (root / name).is_file():
            errors.append(LoadError(str(path), f"entry {name!r} names a missing file"))
            continue
        try:
            sidecar.files[name] = _entry(value)
        except LoadFailure as exc:
            sidecar.blocked.add(name)
            errors.append(LoadError(str(path), f"entry {name!r}: {exc}; the file is not loaded"))
    return sidecar, errors
