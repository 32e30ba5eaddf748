"""Labelled examples as a compare input: behaviour to imitate (an intent, a reply, extracted fields).

A compare folder may hold `examples.jsonl` (or a CSV) instead of documents and questions. Each row gives an
input and the output the organisation produced for it; the rows are split, seeded, into train / dev / test
(stratified by output when the outputs are labels). Every arm learns only from train: the retrieving arms
search the train examples, the adapters are trained on them. Settings are chosen on dev; reports score test.

    {"id": "m0001", "input": "my card never came", "output": "card_arrival", "groups": ["public"]}

A row that cannot be used is named by file and line and skipped; the rest runs.
"""

from __future__ import annotations

import csv
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tailor.generate.demonstrations import OUTPUT_KEY
from tailor.jsonl import json_object
from tailor.records import Document, Example, LoadError

ExamplePart = Literal["train", "dev", "test"]
MAX_LABELS = 200
"""More distinct outputs than this (or outputs that are mostly unique) are free text, not labels."""


class ExamplesConfig(BaseModel):
    """Where the examples are, which fields hold input and output, how they are split."""

    model_config = ConfigDict(extra="forbid")

    path: Path = Field(description="examples.jsonl, or a .csv with a header row")
    test_path: Path | None = Field(
        None, description="A held-out file of the same form (e.g. a dataset's official test split): the test part "
        "is read from it, and `path` is split into train and dev only",
    )
    input: str = Field("input", description="Field (or CSV column) holding the input")
    output: str = Field("output", description="Field (or CSV column) holding the output to imitate")
    labels: list[str] | Literal["auto", "none"] = Field(
        "auto", description="The closed set of outputs: a list, 'auto' (detected: few distinct outputs, each "
        "repeated) or 'none' (free-text outputs)",
    )
    dev_fraction: float = Field(0.15, ge=0, lt=1, description="Share of the examples where settings are chosen")
    test_fraction: float = Field(0.25, ge=0, lt=1, description="Share of the examples a report scores (0 with "
                                 "test_path)")
    part: Literal["dev", "test"] = Field("test", description="Which held-out part the run asks")
    max_train: int | None = Field(
        None, ge=1, description="Train on (and retrieve from) a stratified sample of at most N train examples"
    )
    max_test: int | None = Field(None, ge=1, description="Ask a stratified sample of at most N held-out examples")
    seed: int = 0

    @model_validator(mode="after")
    def _fractions(self) -> ExamplesConfig:
        if self.test_path is not None:
            self.test_fraction = 0.0
        if self.dev_fraction + self.test_fraction >= 1:
            raise ValueError("dev_fraction + test_fraction must leave examples to train on (sum below 1)")
        return self


@dataclass
class ExampleSet:
    examples: list[Example]
    source: str
    errors: list[LoadError] = field(default_factory=list)


def _text(record: dict[str, Any], name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: field {name!r} must be a non-empty string")
    return value.strip()


def _groups(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "" or value == []:
        return ("public",)
    if isinstance(value, str):
        value = [g.strip() for g in value.split(",")]
    if not isinstance(value, list) or not all(isinstance(g, str) and g.strip() for g in value):
        raise ValueError(f"{where}: field 'groups' must be a list of group names")
    return tuple(sorted({g.strip() for g in value}))


def parse_example(record: Any, config: ExamplesConfig, where: str, default_id: str) -> Example:
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected an object with fields {config.input!r} and {config.output!r}")
    raw_id = record.get("id")
    if raw_id is not None and not isinstance(raw_id, str | int):
        raise ValueError(f"{where}: field 'id' must be a string or a number")
    return Example(id=str(raw_id).strip() if raw_id not in (None, "") else default_id,
                   input=_text(record, config.input, where), output=_text(record, config.output, where),
                   groups=_groups(record.get("groups"), where))


def _csv_rows(path: Path) -> list[tuple[str, Any]]:
    """(where, row) for each CSV row; a row that cannot be read becomes (where, the error)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [(f"{path}", ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"))]
    reader = csv.DictReader(text.splitlines(keepends=True))
    rows: list[tuple[str, Any]] = []
    try:
        for row in reader:
            rows.append((f"{path}:{reader.line_num}", row))
    except csv.Error as exc:
        rows.append((f"{path}:{reader.line_num}", ValueError(f"{path}:{reader.line_num}: {exc}")))
    return rows


def _jsonl_rows(path: Path) -> list[tuple[str, Any]]:
    """(where, object) for each non-blank line, split on \\n only; a line that is not UTF-8 or not a JSON
    object becomes (where, the error) and the lines around it are still read."""
    rows: list[tuple[str, Any]] = []
    for number, raw in enumerate(path.read_bytes().removeprefix(b"\xef\xbb\xbf").split(b"\n"), start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
            if line.strip():
                rows.append((where, json_object(line)))
        except UnicodeDecodeError as exc:
            rows.append((where, ValueError(f"{where}: not UTF-8 ({exc.reason} at byte {exc.start})")))
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply to read" if isinstance(exc, RecursionError) else str(exc)
            rows.append((where, ValueError(f"{where}: {reason}")))
    return rows


def load_examples(config: ExamplesConfig, path: Path | None = None) -> ExampleSet:
    """Every usable row of the file (`config.path` unless `path` is given); each bad one is a LoadError naming
    file, line and field."""
    path = Path(path or config.path)
    if not path.is_file():
        raise FileNotFoundError(f"examples file not found: {path}")
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(path)
    else:
        rows = _jsonl_rows(path)
    examples: list[Example] = []
    errors: list[LoadError] = []
    seen: set[str] = set()
    for number, (where, row) in enumerate(rows, start=1):
        try:
            if isinstance(row, Exception):
                raise row
            example = parse_example(row, config, where, default_id=f"row{number}")
            if example.id in seen:
                raise ValueError(f"{where}: duplicate id {example.id!r}")
        except ValueError as exc:
            errors.append(LoadError(where, str(exc).removeprefix(f"{where}: ")))
            continue
        seen.add(example.id)
        examples.append(example)
    return ExampleSet(examples, str(path), errors)


def as_documents(examples: Sequence[Example], source: str) -> list[Document]:
    """The examples as documents of a knowledge base of examples: the input is the text, the output metadata."""
    return [Document(id=e.id, text=e.input, title=f"example {e.id}", source=f"{source}#{e.id}", groups=e.groups,
                     metadata={OUTPUT_KEY: e.output}) for e in examples]


def normalise_label(text: str) -> str:
    """A label as compared: case, spaces, hyphens and surrounding punctuation folded ("Card arrival." ==
    "card_arrival"); only the first line of an answer counts."""
    line = next((part for part in text.strip().splitlines() if part.strip()), "")
    line = line.strip().strip("\"'`“”‘’.,;:!?()[]{}*").strip().lower()
    return "_".join(line.replace("-", " ").replace("_", " ").split())


def label_set(examples: Sequence[Example], config: ExamplesConfig) -> tuple[str, ...] | None:
    """The closed set of outputs (normalised), or None for free-text outputs."""
    if isinstance(config.labels, list):
        return tuple(sorted({normalise_label(label) for label in config.labels}))
    if config.labels == "none" or not examples:
        return None
    counts = Counter(normalise_label(e.output) for e in examples)
    repeated = sum(1 for n in counts.values() if n >= 2)
    if len(counts) <= MAX_LABELS and repeated == len(counts) and len(counts) < len(examples) / 2:
        return tuple(sorted(counts))
    return None


def split_examples(examples: Sequence[Example], config: ExamplesConfig,
                   labels: Sequence[str] | None) -> dict[ExamplePart, list[Example]]:
    """Seeded train / dev / test parts; with labels, each label keeps its share in every part."""
    rng = random.Random(config.seed)
    strata: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        strata[normalise_label(example.output) if labels else ""].append(example)
    parts: dict[ExamplePart, list[Example]] = {"train": [], "dev": [], "test": []}
    for key in sorted(strata):
        members = list(strata[key])
        rng.shuffle(members)
        n_test = max(1, round(config.test_fraction * len(members))) if len(members) > 2 and config.test_fraction else 0
        n_dev = round(config.dev_fraction * len(members)) if len(members) > 3 else 0
        parts["test"] += members[:n_test]
        parts["dev"] += members[n_test:n_test + n_dev]
        parts["train"] += members[n_test + n_dev:]
    order = {e.id: i for i, e in enumerate(examples)}
    return {name: sorted(found, key=lambda e: order[e.id]) for name, found in parts.items()}


def stratified(examples: Sequence[Example], size: int | None, seed: int, labels: Sequence[str] | None) -> list[Example]:
    """At most `size` examples, each output label (and groups) keeping its share; in the input order."""
    if size is None or size >= len(examples):
        return list(examples)
    strata: dict[tuple[str, tuple[str, ...]], list[Example]] = defaultdict(list)
    for example in examples:
        strata[(normalise_label(example.output) if labels else "", example.groups)].append(example)
    quotas = {key: size * len(members) / len(examples) for key, members in strata.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}
    for key in sorted(quotas, key=lambda k: (quotas[k] - counts[k], k), reverse=True)[: size - sum(counts.values())]:
        counts[key] += 1  # largest remainders first
    rng = random.Random(seed)
    chosen = {e.id for key in sorted(strata) for e in rng.sample(strata[key], counts[key])}
    return [e for e in examples if e.id in chosen]
