"""The adapter registry: `HOME/adapters/<name>/<version>/`, one folder per training run.

    adapter/ (or model/ for full fine-tunes)   the weights, with the tokenizer
    manifest.json        base model id + revision, method, dataset card hash and groups, metrics, cost
    training_config.yaml the FinetuneConfig of the run
    dataset_card.json    the card of the dataset it was trained on
    metrics.jsonl        the training log
    tensorboard/         TensorBoard event files, when tensorboard is installed

A reference is "name" (the promoted version, else the latest), "name@3" or "name@latest".
Versions are published by renaming a finished folder into place, so a reader never sees half of one.

Access: an adapter's weights may hold facts of every document it was trained on, so its manifest
records `groups`, the access groups a caller must ALL hold to use it (computed from the documents of
its training data: `tailor.finetune.data.adapter_groups`). `require_adapter_access` is the one check
that `tailor ask`, `tailor serve` and `tailor compare` make. It fails closed: a manifest without
groups (published before they were recorded) serves only unrestricted (administrative) callers, and
a folder outside the registry, whose training data is unknown, is refused by `AdapterRegistry.resolve`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tailor.base_models import file_sha256, gguf_source, is_gguf

PROMOTED = "promoted"


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    version: int
    path: Path
    manifest: dict[str, Any]
    promoted: bool = False

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def weights(self) -> Path:
        """The adapter folder (PEFT) or, for a full fine-tune, the model folder."""
        return self.path / self.manifest.get("weights", "adapter")

    @property
    def base_model(self) -> str:
        return self.manifest["base_model"]["id"]

    @property
    def groups(self) -> frozenset[str] | None:
        """The groups a caller must all hold to use this adapter; None when the manifest records none."""
        groups = self.manifest.get("groups")
        if not isinstance(groups, list) or not groups or not all(isinstance(g, str) and g for g in groups):
            return None
        return frozenset(groups)


class AdapterAccessError(PermissionError):
    """A caller may not use an adapter: it lacks a group of the documents the adapter was trained on."""

    def __init__(self, ref: str, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.ref = ref
        self.missing = tuple(missing)


def require_adapter_access(entry: AdapterEntry, groups: Sequence[str] | None) -> None:
    """Raise AdapterAccessError unless a caller holding `groups` may use the adapter.

    `groups=None` is an unrestricted (administrative) caller, as in `KnowledgeBase.search`.
    """
    if groups is None:
        return
    if isinstance(groups, str):
        raise TypeError("groups must be a sequence of group names, e.g. ('public',), not a string")
    needed = entry.groups
    if needed is None:
        raise AdapterAccessError(
            entry.ref,
            f"adapter {entry.ref} records no access groups (published before Tailor recorded them), so only "
            "an unrestricted caller may use it; retrain it with `tailor finetune` to record them",
        )
    missing = sorted(needed - set(groups))
    if missing:
        raise AdapterAccessError(
            entry.ref,
            f"adapter {entry.ref} was trained on documents of groups {sorted(needed)}; a caller holding "
            f"{sorted(set(groups))} lacks {missing}",
            missing,
        )


def entry_at(folder: Path) -> AdapterEntry | None:
    """The registry version stored at `folder` (a version folder, or the weights folder inside one)."""
    folder = Path(folder).expanduser().resolve()
    for candidate in (folder, folder.parent):
        manifest_path = candidate / "manifest.json"
        if not manifest_path.is_file():
            continue
        manifest = json.loads(manifest_path.read_text())
        if candidate == folder.parent and manifest.get("weights", "adapter") != folder.name:
            continue
        marker = candidate.parent / PROMOTED
        promoted = marker.is_file() and marker.read_text().strip() == str(manifest["version"])
        return AdapterEntry(manifest["name"], int(manifest["version"]), candidate, manifest, promoted=promoted)
    return None


class AdapterRegistry:
    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "adapters"

    def publish(
        self, name: str, folders: dict[str, Path], manifest: dict[str, Any], files: dict[str, str]
    ) -> AdapterEntry:
        """Move finished folders (the weights under manifest["weights"], logs, ...) in as the next version
        of `name`, with the manifest and the given text files."""
        if not name or "/" in name or "@" in name or name.startswith("."):
            raise ValueError(f"bad adapter name {name!r}: no '/', '@' or leading '.'")
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for folder_name, source in folders.items():
            shutil.move(str(source), staging / folder_name)
        for filename, text in files.items():
            (staging / filename).write_text(text)
        while True:
            version = max(self._versions(name), default=0) + 1
            manifest = {**manifest, "name": name, "version": version}
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
            try:
                staging.rename(folder / str(version))
            except OSError:
                if not (folder / str(version)).exists():
                    raise
                continue  # another run published this version number first
            return self.get(f"{name}@{version}")

    def _versions(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "manifest.json").is_file())

    def _promoted(self, name: str) -> int | None:
        marker = self.root / name / PROMOTED
        return int(marker.read_text().strip()) if marker.is_file() else None

    def names(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if self._versions(p.name)) if self.root.is_dir() else []

    def entries(self, name: str | None = None) -> list[AdapterEntry]:
        return [self.get(f"{n}@{v}") for n in ([name] if name else self.names()) for v in self._versions(n)]

    def get(self, ref: str) -> AdapterEntry:
        """Resolve "name", "name@latest" or "name@<version>"."""
        name, _, version = ref.partition("@")
        versions = self._versions(name)
        if not versions:
            raise KeyError(f"no adapter named {name!r} in {self.root}")
        promoted = self._promoted(name)
        if version in ("", PROMOTED):
            number = promoted or versions[-1]
        elif version == "latest":
            number = versions[-1]
        elif version.isdigit() and int(version) in versions:
            number = int(version)
        else:
            raise KeyError(f"adapter {name!r} has no version {version!r} (versions: {versions})")
        path = self.root / name / str(number)
        manifest = json.loads((path / "manifest.json").read_text())
        return AdapterEntry(name, number, path, manifest, promoted=number == promoted)

    def resolve(self, spec: str) -> AdapterEntry:
        """A reference of this registry ("name", "name@3"), else the path of any registry's version
        folder or its weights folder. A folder outside a registry is refused (AdapterAccessError): the
        documents it was trained on, and so who may use it, are unknown."""
        name = spec.partition("@")[0]
        if not Path(spec).expanduser().exists() or ("/" not in name and self._versions(name)):
            return self.get(spec)
        entry = entry_at(Path(spec))
        if entry is None:
            raise AdapterAccessError(
                spec,
                f"{spec} is not an adapter of a Tailor registry (no manifest.json in it or beside it): the "
                "documents it was trained on are unknown, so it is refused; publish it with `tailor finetune`",
            )
        return entry

    def promote(self, ref: str) -> AdapterEntry:
        """Make this version the one that "name" resolves to."""
        entry = self.get(ref if "@" in ref else f"{ref}@latest")
        marker = self.root / entry.name / PROMOTED
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(f"{entry.version}\n")
        tmp.replace(marker)
        return self.get(entry.ref)

    def remove(self, ref: str) -> list[AdapterEntry]:
        """Delete one version ("name@3") or every version of a name ("name")."""
        name, _, version = ref.partition("@")
        entries = [self.get(ref)] if version else self.entries(name)
        if not entries:
            raise KeyError(f"no adapter named {name!r} in {self.root}")
        for entry in entries:
            shutil.rmtree(entry.path)
            if self._promoted(name) == entry.version:
                (self.root / name / PROMOTED).unlink()
        if not self._versions(name):
            shutil.rmtree(self.root / name)
        return entries


def model_revision(model_id: str) -> str:
    """The hub commit of a hub model; a GGUF model's file hash; for a local folder, a sha256 over its config
    and weight files."""
    if is_gguf(model_id):
        return f"gguf-sha256:{file_sha256(gguf_source(model_id))}"
    folder = Path(model_id).expanduser()
    if not folder.is_dir():
        from transformers import AutoConfig

        return str(getattr(AutoConfig.from_pretrained(model_id), "_commit_hash", None) or "unknown")
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.name == "config.json" or path.suffix in (".safetensors", ".bin"):
            digest.update(path.name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"sha256:{digest.hexdigest()}"
