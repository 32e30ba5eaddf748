"""Find files, apply sidecar metadata and turn every file into documents or load errors."""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from tailor.kb.loaders import base
from tailor.kb.loaders.base import Loaded, LoadFailure, file_kind, too_large
from tailor.kb.loaders.registry import loader_for
from tailor.kb.loaders.sidecar import SIDECAR, FileMeta, Sidecar, read_sidecar
from tailor.records import Document, LoadError

DEFAULT_GROUPS = ("public",)


def _unreadable(path: Path, exc: OSError) -> str:
    """The true reason an entry could not be looked at."""
    if exc.errno == errno.ELOOP:
        return "symlink loop: the link never reaches a file"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return f"broken symbolic link: its target {os.readlink(path)!r} does not exist"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot be read: {exc.strerror or exc}"


def _wanted(name: str) -> bool:
    """Names a folder walk loads; every other name is skipped silently (hidden, the sidecar, unknown types)."""
    return not name.startswith(".") and name != SIDECAR and loader_for(Path(name)) is not None


def _files_under(root: Path, skipped: list[LoadError] | None = None) -> list[tuple[Path, Path]]:
    """Supported, non-hidden regular files (or links to one) below `root`, in sorted path order.

    Hidden entries, the sidecar and unknown extensions are skipped silently; anything else left out is
    added to `skipped` with its reason: an unreadable folder, a symlink loop or broken link, a link to a
    folder (never followed: what it reaches is outside the tree its sidecar describes), a FIFO, socket
    or device ("not a regular file"; never opened).
    """
    skipped = [] if skipped is None else skipped
    files: list[Path] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(LoadError(str(folder), f"folder not read: {_unreadable(folder, exc)}"))
            continue
        for entry in entries:
            if entry.name.startswith(".") or entry.name == SIDECAR:  # read_sidecar reports a bad sidecar
                continue
            path = Path(entry.path)
            try:
                info = entry.stat()  # follows a link
            except OSError as exc:  # a loop or dangling link: what it was meant to be is unknown, so named
                skipped.append(LoadError(str(path), _unreadable(path, exc)))
                continue
            if stat.S_ISDIR(info.st_mode):
                if entry.is_symlink():
                    skipped.append(LoadError(str(path), _folder_link_reason(path)))
                else:
                    stack.append(path)
            elif not _wanted(entry.name):
                continue
            elif not stat.S_ISREG(info.st_mode):
                skipped.append(LoadError(str(path), f"not a regular file ({file_kind(info.st_mode)})"))
            else:
                files.append(path)
    files.sort(key=lambda f: f.relative_to(root).parts)
    return [(f, root) for f in files]


def _folder_link_reason(path: Path) -> str:
    target = path.resolve()
    inside = path.parent.resolve()
    if target == inside or target in inside.parents:
        return f"symlink loop: a link to {target}, a folder that contains it; not followed"
    return f"symbolic link to a folder ({target}); links to folders are not followed"


def _sidecar_root(folder: Path) -> Path | None:
    """The nearest folder at or above `folder` (as the operating system sees it) that holds a sidecar."""
    resolved = folder.resolve()
    for candidate in (resolved, *resolved.parents):
        if os.path.lexists(candidate / SIDECAR):
            return candidate
    return None


def discover(paths: Sequence[Path], skipped: list[LoadError] | None = None) -> list[tuple[Path, Path]]:
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
            found = [(file, root) for file, _ in _files_under(given, skipped)]
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


def _not_loadable(path: Path, max_file_bytes: int | None) -> str | None:
    """Why `path` is not read at all, from its stat alone (nothing is opened), or None."""
    try:
        info = path.stat()
    except OSError as exc:
        return _unreadable(path, exc)
    if not stat.S_ISREG(info.st_mode):
        return f"not a regular file ({file_kind(info.st_mode)})"
    limit = base.MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
    if info.st_size > limit:
        return too_large(info.st_size, limit)
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def load_file(
    path: Path,
    root: Path | None = None,
    sidecar: Sidecar | None = None,
    default_groups: tuple[str, ...] | None = None,
    max_file_bytes: int | None = None,
    read: set[Path] | None = None,
) -> list[Document | LoadError]:
    """Documents of one file (several for jsonl) and per-file errors; never raises.

    A file over `max_file_bytes` (default `base.MAX_FILE_BYTES`, 20 MB) is refused from its size alone,
    as is anything that is not a regular file (a FIFO is never opened).

    `sidecar` is that of `root` (see `read_sidecar`); when it is malformed the file is skipped.
    `read` gets the resolved path when the file's loader read it, even if every document in it failed
    (so `ingest --sync` may drop what the file no longer holds, and keeps what a file it could not read had).
    """
    root = path.parent if root is None else root
    sidecar = sidecar or Sidecar()
    if sidecar.malformed:  # fail closed: without its sidecar the file's groups are unknown
        return [LoadError(str(path), f"skipped because the sidecar {sidecar.path} is malformed")]
    rel = _relative_id(path, root)
    loader = loader_for(path)
    if rel in sidecar.blocked:
        return []  # its sidecar entry is malformed; read_sidecar reported it
    if (problem := _not_loadable(path, max_file_bytes)) is not None:
        return [LoadError(str(path), problem)]
    if loader is None:
        return [LoadError(str(path), f"unsupported file type {path.suffix or '(no extension)'}")]
    token = base.file_limit.set(max_file_bytes)
    try:
        results = loader.load(path)
    except LoadFailure as exc:
        return [LoadError(str(path), str(exc))]
    except PermissionError:
        return [LoadError(str(path), "permission denied")]
    except RecursionError:  # a tree deeper than the interpreter's stack: html elements, JSON, YAML
        return [LoadError(str(path), f"nested too deeply to read (over {sys.getrecursionlimit():,} levels)")]
    except Exception as exc:  # one bad file must never stop a run
        return [LoadError(str(path), f"{type(exc).__name__}: {exc}")]
    finally:
        base.file_limit.reset(token)
    if read is not None:
        read.add(path.resolve())
    if not results:
        return [LoadError(str(path), "empty document")]
    groups = default_groups or sidecar.default_groups or DEFAULT_GROUPS
    meta = sidecar.files.get(rel, FileMeta())
    return [
        _document(r, path, rel, loader.format, meta, groups) if isinstance(r, Loaded) else r for r in results
    ]


def load_documents(
    paths: Sequence[Path],
    default_groups: tuple[str, ...] | None = None,
    max_file_bytes: int | None = None,
    read: set[Path] | None = None,
) -> tuple[list[Document], list[LoadError]]:
    """Load every file found under `paths`: (documents, errors). A bad file never stops the others.

    Groups: sidecar file entry > `default_groups` > sidecar `defaults.groups` > ("public",);
    a jsonl line's own `groups` beat all of them. A document id seen twice is an error for the second.
    A malformed sidecar is reported once and every file under its root is skipped with an error.
    A file over `max_file_bytes` (default `base.MAX_FILE_BYTES`) is skipped with an error; so is every
    entry a folder walk leaves out for a reason (symlink loops, unreadable folders, special files).
    `read`, when given, collects the files whose loader read them (see `load_file`).
    """
    docs: list[Document] = []
    errors: list[LoadError] = []
    sidecars: dict[Path, Sidecar] = {}  # by resolved root: each sidecar is read (and reported) once
    first_source: dict[str, str] = {}
    for file, root in discover(paths, errors):
        key = root.resolve()
        if key not in sidecars:
            sidecars[key], sidecar_errors = read_sidecar(root)
            errors += sidecar_errors
        for item in load_file(file, root, sidecars[key], default_groups, max_file_bytes, read):
            if isinstance(item, LoadError):
                errors.append(item)
            elif item.id in first_source:
                reason = f"duplicate document id {item.id!r} (already loaded from {first_source[item.id]})"
                errors.append(LoadError(str(file), reason))
            else:
                first_source[item.id] = item.source
                docs.append(item)
    return docs, errors
