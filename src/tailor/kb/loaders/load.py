"""Find files, apply sidecar metadata and turn every file into documents or load errors."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tailor.kb.loaders.base import Loaded, LoadFailure
from tailor.kb.loaders.registry import loader_for
from tailor.kb.loaders.sidecar import SIDECAR, FileMeta, Sidecar, read_sidecar
from tailor.records import Document, LoadError

DEFAULT_GROUPS = ("public",)


def _files_under(root: Path) -> list[tuple[Path, Path]]:
    """Supported, non-hidden files below `root`, in sorted path order; other files are skipped silently."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        files += [
            Path(dirpath, name)
            for name in filenames
            if not name.startswith(".") and name != SIDECAR and loader_for(Path(name)) is not None
        ]
    files.sort(key=lambda f: f.relative_to(root).parts)
    return [(f, root) for f in files]


def _sidecar_root(folder: Path) -> Path | None:
    """The nearest folder at or above `folder` (as the operating system sees it) that holds a sidecar."""
    resolved = folder.resolve()
    for candidate in (resolved, *resolved.parents):
        if os.path.lexists(candidate / SIDECAR):
            return candidate
    return None


def discover(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """(file, root) pairs for the given files and folders, in order, each file once.

    A folder is walked recursively (hidden entries, the sidecar and unknown extensions skipped); a file
    named directly is kept whatever its type (loading reports a problem). Either way the root is the
    nearest folder at or above the given path that holds a sidecar, so ids and access groups are the
    same whether a whole tree, a subfolder or one file is given; with no sidecar up to the filesystem
    root, the root is the folder given (or the file's own folder).
    """
    pairs: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    for given in map(Path, paths):
        if given.is_dir():
            root = _sidecar_root(given) or given
            found = [(file, root) for file, _ in _files_under(given)]
        else:
            found = [] if given.name == SIDECAR else [(given, _sidecar_root(given.parent) or given.parent)]
        for file, root in found:
            if file.resolve() not in seen:
                seen.add(file.resolve())
                pairs.append((file, root))
    return pairs


def _relative_id(path: Path, root: Path) -> str:
    """`path` relative to `root` as a posix string, compared as the operating system sees both (so a
    relative file and an absolute root agree); the bare file name when `path` is not under `root`."""
    located, base = path.parent.resolve() / path.name, root.resolve()
    return located.relative_to(base).as_posix() if located.is_relative_to(base) else path.name


def _document(
    loaded: Loaded, path: Path, rel: str, fmt: str, meta: FileMeta, groups: tuple[str, ...]
) -> Document | LoadError:
    if not loaded.text.strip():
        return LoadError(str(path), "empty document")
    return Document(
        id=loaded.id or rel,
        text=loaded.text,
        title=(meta.title if loaded.id is None else None) or loaded.title,
        source=str(path),
        groups=loaded.groups or meta.groups or groups,
        metadata={**loaded.metadata, **meta.metadata, "format": fmt, "path": str(path)},
        sections=loaded.sections,
        pages=loaded.pages,
    )


def load_file(
    path: Path,
    root: Path | None = None,
    sidecar: Sidecar | None = None,
    default_groups: tuple[str, ...] | None = None,
) -> list[Document | LoadError]:
    """Documents of one file (several for jsonl) and per-file errors; never raises.

    `sidecar` is that of `root` (see `read_sidecar`); when it is malformed the file is skipped.
    """
    root = path.parent if root is None else root
    sidecar = sidecar or Sidecar()
    if sidecar.malformed:  # fail closed: without its sidecar the file's groups are unknown
        return [LoadError(str(path), f"skipped because the sidecar {sidecar.path} is malformed")]
    rel = _relative_id(path, root)
    loader = loader_for(path)
    if rel in sidecar.blocked:
        return []  # its sidecar entry is malformed; read_sidecar reported it
    if not path.is_file():
        return [LoadError(str(path), "no such file")]
    if loader is None:
        return [LoadError(str(path), f"unsupported file type {path.suffix or '(no extension)'}")]
    try:
        results = loader.load(path)
    except LoadFailure as exc:
        return [LoadError(str(path), str(exc))]
    except Exception as exc:  # one bad file must never stop a run
        return [LoadError(str(path), f"{type(exc).__name__}: {exc}")]
    if not results:
        return [LoadError(str(path), "empty document")]
    groups = default_groups or sidecar.default_groups or DEFAULT_GROUPS
    meta = sidecar.files.get(rel, FileMeta())
    return [
        _document(r, path, rel, loader.format, meta, groups) if isinstance(r, Loaded) else r for r in results
    ]


def load_documents(
    paths: Sequence[Path], default_groups: tuple[str, ...] | None = None
) -> tuple[list[Document], list[LoadError]]:
    """Load every file found under `paths`: (documents, errors). A bad file never stops the others.

    Groups: sidecar file entry > `default_groups` > sidecar `defaults.groups` > ("public",);
    a jsonl line's own `groups` beat all of them. A document id seen twice is an error for the second.
    A malformed sidecar is reported once and every file under its root is skipped with an error.
    """
    docs: list[Document] = []
    errors: list[LoadError] = []
    sidecars: dict[Path, Sidecar] = {}  # by resolved root: each sidecar is read (and reported) once
    first_source: dict[str, str] = {}
    for file, root in discover(paths):
        key = root.resolve()
        if key not in sidecars:
            sidecars[key], sidecar_errors = read_sidecar(root)
            errors += sidecar_errors
        for item in load_file(file, root, sidecars[key], default_groups):
            if isinstance(item, LoadError):
                errors.append(item)
            elif item.id in first_source:
                reason = f"duplicate document id {item.id!r} (already loaded from {first_source[item.id]})"
                errors.append(LoadError(str(file), reason))
            else:
                first_source[item.id] = item.source
                docs.append(item)
    return docs, errors
