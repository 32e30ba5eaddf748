"""`tailor compare` configuration: the arms to run, the base model, prices, probes; a YAML file or flags.

A compare folder (e.g. `examples/handbook/`) is read by convention:

    docs/            the documents (ingested into OUT/kb)          or `kb:` an existing knowledge base
    questions.jsonl  the questions                                  or none: generated from held-out documents
    examples.jsonl   labelled examples instead of docs/ and questions (`examples:` in compare.yaml for a CSV,
                     other field names or a label set): behaviour learnt from examples, see examples.py
    changes/docs/    edited copies of some documents (freshness)    with changes/questions.jsonl
    compare.yaml     this configuration (optional)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tailor.base_models import DEFAULT_BASE_MODEL
from tailor.config_files import read_mapping, validate
from tailor.evaluate.compare.examples import ExamplesConfig
from tailor.evaluate.compare.splits import QuestionSplit
from tailor.kb.config import IndexConfig, RetrievalConfig

BASE = "base"
"""Generator spec meaning "the base model": hf:<base_model>, or the openai endpoint given as base."""
TRAIN = "train"
"""Adapter reference meaning "train one in this run (or reuse a registry adapter with the same data)"."""


class ArmConfig(BaseModel):
    """One arm: a strategy with its generator (and adapter), asked every question."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Label in the report")
    strategy: Literal["closed_book", "rag", "finetuned", "hybrid"]
    generator: str = Field(BASE, description="'base', 'extractive', 'hf:<id-or-path>' or 'openai:<url>#<model>'")
    adapter: str | None = Field(None, description="'train' (default for finetuned/hybrid) or a registry reference")
    data_format: Literal["qa", "raft"] | None = Field(
        None, description="Training data of a trained adapter: qa (closed book) or raft (a retrieving arm's own "
        "prompt, RAFT); None: raft for hybrid, else qa"
    )
    top_k: int = Field(5, ge=1, description="Context blocks retrieved")
    max_new_tokens: int = Field(48, ge=1, description="Longest generated answer")
    template: str | None = Field(
        None, description="Prompt template (name or .jinja path); None: the strategy's default for this base model"
    )
    focus_sentences: int | None = Field(
        None, ge=0, description="LLM RAG: show only the N best sentences of the hits; 0: whole chunks; None: the "
        "base model's measured default"
    )
    focus_abstain_below: float | None = Field(
        None, ge=0, le=1, description="With focus: abstain without generating below this confidence; None: the "
        "base model's measured default"
    )
    quantize: Literal["int8", "bf16"] | None = Field(
        None, description="hf: int8 dynamic quantisation or bf16 weights (faster on CPU; see generation_speed.py)"
    )
    batch_size: int = Field(
        8, ge=1, description="Questions generated together (left padded): a speed setting, but padding's rounding can "
        "flip a greedy token (bf16 SmolLM2, closed book: 9 of 64 handbook answers differed between 8 and 16)",
    )
    sample: int | None = Field(
        None, ge=1, description="Ask this arm a seeded sample of N of the run's questions, stratified by caller groups "
        "and answerability (a slow arm beside fast ones); pairwise comparisons use the questions both arms answered"
    )

    @model_validator(mode="after")
    def _adapter_default(self) -> ArmConfig:
        if self.data_format is None:
            self.data_format = "raft" if self.strategy == "hybrid" else "qa"
        if self.strategy in ("finetuned", "hybrid"):
            if self.generator == "extractive":
                raise ValueError(f"arm {self.name}: {self.strategy} needs a language model, not the extractive reader")
            if self.adapter is None:
                self.adapter = TRAIN
        elif self.adapter is not None:
            raise ValueError(f"arm {self.name}: strategy {self.strategy} takes no adapter")
        return self


DEFAULT_ARMS = [
    ArmConfig(name="closed_book", strategy="closed_book"),
    ArmConfig(name="rag_extractive", strategy="rag", generator="extractive"),
    ArmConfig(name="rag", strategy="rag"),
    ArmConfig(name="finetuned", strategy="finetuned"),
    ArmConfig(name="hybrid", strategy="hybrid"),
]


class TrainingConfig(BaseModel):
    """How the fine-tuned arms' adapters are trained inside the run (tailor data build + tailor finetune)."""

    model_config = ConfigDict(extra="forbid")

    groups: list[str] = Field(
        ["public"], min_length=1,
        description="Documents of these groups are trained on; an adapter then serves only callers holding them all",
    )
    questions_per_chunk: int = Field(3, ge=1, description="Offline synthetic questions per chunk")
    paraphrases: int = Field(1, ge=0, description="Extra rewordings per training question")
    answer_template: str = Field(
        "{answer}", description="Form of the trained answers: {answer} and {title}, e.g. '{answer}\\nSource: {title}'"
    )
    train_on_questions: bool = Field(
        False, description="Also train on the evaluation questions themselves (contaminates the test; off)"
    )
    finetune: dict[str, Any] = Field(
        default_factory=dict, description="FinetuneConfig fields (configs/finetune/*.yaml), e.g. epochs, lora_rank"
    )


class Prices(BaseModel):
    """Prices the measured times and tokens are multiplied by."""

    model_config = ConfigDict(extra="forbid")

    currency: str = "USD"
    gpu_hour: float = Field(2.50, ge=0, description="One GPU for an hour")
    cpu_hour: float = Field(0.10, ge=0, description="One machine of this kind (CPU only) for an hour")
    input_per_million: float = Field(0.0, ge=0, description="API price per 1M prompt tokens (openai: arms)")
    output_per_million: float = Field(0.0, ge=0, description="API price per 1M generated tokens")


class FormatSpec(BaseModel):
    """The declared form of an answer; each set field must hold for an answer to adhere."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    regex: str | None = Field(None, description="The whole answer must match (re.fullmatch, DOTALL)")
    json_schema: dict[str, Any] | None = Field(None, description="The answer must be JSON valid against it")
    min_words: int | None = Field(None, ge=0)
    max_words: int | None = Field(None, ge=1)
    max_sentences: int | None = Field(None, ge=1)
    required_phrases: list[str] = Field(default_factory=list, description="Case-insensitive, all required")
    forbidden_phrases: list[str] = Field(default_factory=list, description="Case-insensitive, none allowed")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, regex: str | None) -> str | None:
        try:
            return regex if regex is None else re.compile(regex, re.DOTALL).pattern
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None


class LeakAdapterConfig(BaseModel):
    """The leak remedy's 'before': an adapter trained on the documents of `groups`, with the arms' recipe
    unless `finetune` overrides part of it."""

    model_config = ConfigDict(extra="forbid")

    groups: list[str] | None = Field(None, min_length=1, description="Trained on; default: every group in the KB")
    finetune: dict[str, Any] = Field(
        default_factory=dict, description="FinetuneConfig fields over training.finetune, e.g. epochs"
    )


class ProbeConfig(BaseModel):
    """The leak and forgetting probes (issue 8): measured on every arm they apply to."""

    model_config = ConfigDict(extra="forbid")

    leak_caller_groups: list[str] = Field(["public"], description="The caller the leak probe asks as")
    leak_adapter: LeakAdapterConfig | None = Field(
        None, description="Also train an adapter on documents the caller may not read, probed for leaks only: "
        "the 'before' of the remedy (`tailor finetune --groups`)"
    )
    leak_distractors: int = Field(
        4, ge=1, description="Weights probe: distractor answers (same kind first) each gold answer is ranked against"
    )
    leak_training_questions: int = Field(
        200, ge=0, description="Weights probe: at most this many restricted rows of the adapters' training data"
    )
    forgetting: bool = Field(True, description="Perplexity and general questions, base vs each adapter")
    general_text: Path | None = Field(None, description="Held-out general .txt folder; default: shipped set")
    general_questions: Path | None = Field(None, description="General questions jsonl; default: shipped set")


class CompareConfig(BaseModel):
    """Everything `tailor compare` needs; every field settable in compare.yaml, the common ones by flag."""

    model_config = ConfigDict(extra="forbid")

    docs: Path | None = Field(None, description="Documents folder ingested into OUT/kb")
    kb: Path | None = Field(None, description="An existing knowledge base, local or Milvus (instead of docs)")
    questions: Path | None = Field(None, description="Questions jsonl; none: generated from held-out documents")
    changes: Path | None = Field(None, description="Change set folder (docs/ + questions.jsonl): freshness probe")
    out: Path = Field(Path("out/compare"), description="Report folder (report.html, report.json, summary.md)")
    home: Path | None = Field(None, description="Project data dir for models and adapters; default $TAILOR_HOME")
    report_groups: list[str] | None = Field(
        None, description="The report describes the knowledge base through the documents of these groups only "
        "(`tailor serve` sets the run's groups); None: every document",
    )
    base_model: str = Field(
        DEFAULT_BASE_MODEL,
        description="'smollm2-135m-instruct' (bundled, offline), a .gguf file, an HF id or local path, 'scratch' "
        "(the from-scratch demonstration model, for fast tests), or 'openai:<url>#<model>' (the non-adapter arms only)",
    )
    scratch: dict[str, Any] = Field(default_factory=dict, description="ScratchConfig fields for base_model: scratch")
    arms: list[ArmConfig] = Field(default_factory=lambda: [a.model_copy() for a in DEFAULT_ARMS])
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    retrain: bool = Field(False, description="Freshness: retrain the adapters on the changed documents, timed")
    examples: ExamplesConfig | None = Field(
        None, description="Labelled examples (instead of docs/kb and questions): each arm learns from the train "
        "part and answers the held-out part",
    )
    primary_metric: Literal["accuracy", "exact_match", "f1", "contains", "judge_accuracy", "label_accuracy",
                            "similarity"] = Field(
        "accuracy", description="The correctness figure the recommendation compares (examples: label_accuracy "
        "for labels, f1 for free text, unless set)"
    )
    judge: str | None = Field(None, description="Generator spec of an optional LLM judge")
    judge_retries: int = Field(2, ge=0, description="Retries of a judgement whose JSON is invalid")
    format: FormatSpec | None = None
    probes: ProbeConfig = Field(default_factory=ProbeConfig)
    prices: Prices = Field(default_factory=Prices)
    kb_index: IndexConfig | None = Field(
        None, description="Chunking of the KB ingested from docs (OUT/kb-<settings> when set); None: the defaults"
    )
    retrieval: RetrievalConfig | None = Field(
        None, description="How the retrieving arms search (mode, fusion, weights, reranker); None: the KB's"
    )
    max_questions: int | None = Field(None, ge=1, description="Ask only the first N questions (quick runs)")
    question_split: QuestionSplit | None = Field(
        None, description="Ask one part of a seeded by-document split (and a stratified sample of it): the part "
        "not used to choose settings (the report states it)",
    )
    bootstrap: int = Field(1000, ge=100, description="Bootstrap resamples for every CI")
    seed: int = 0

    @classmethod
    def from_folder(cls, folder: Path, overrides: dict[str, Any] | None = None) -> CompareConfig:
        """The folder's compare.yaml (paths in it are relative to the folder) and the conventional layout."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: not a folder")
        data: dict[str, Any] = {}
        config_file = folder / "compare.yaml"
        if config_file.is_file():
            data = read_mapping(config_file)
            for key in ("docs", "kb", "questions", "changes"):
                if data.get(key):
                    data[key] = str(folder / data[key])
            if isinstance(data.get("examples"), dict) and data["examples"].get("path"):
                data["examples"] = {**data["examples"], "path": str(folder / data["examples"]["path"])}
        examples = folder / "examples.jsonl"
        if "examples" not in data and examples.is_file() and not (folder / "docs").exists() and not data.get("kb"):
            data["examples"] = {"path": str(examples)}
        conventions = {"docs": folder / "docs", "questions": folder / "questions.jsonl", "changes": folder / "changes"}
        for key, path in conventions.items():
            if key not in data and path.exists() and not (key == "docs" and data.get("kb")) \
                    and not (key in ("docs", "questions") and data.get("examples")):
                data[key] = str(path)
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return validate(cls, data, config_file if config_file.is_file() else folder)

    @classmethod
    def from_sources(cls, folder: Path | None, config_file: Path | None, flags: dict[str, Any]) -> CompareConfig:
        """What the CLI was given: a compare folder's conventions and compare.yaml, then a `--config` file, then
        the flags that were set."""
        overrides = dict(flags)
        if config_file:
            overrides = {**read_mapping(config_file), **{k: v for k, v in flags.items() if v}}
        if folder:
            return cls.from_folder(folder, overrides)
        return cls.model_validate({k: v for k, v in overrides.items() if v is not None})

    @model_validator(mode="after")
    def _one_source(self) -> CompareConfig:
        if self.examples is not None:
            given = [name for name in ("docs", "kb", "questions", "question_split") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"examples replace docs, kb and questions: give examples or {', '.join(given)}")
        elif (self.docs is None) == (self.kb is None):
            raise ValueError("give exactly one of docs (a folder to ingest) or kb (an existing knowledge base)")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique: {names}")
        return self


TUNED_SECTIONS = ("base_model", "kb_index", "retrieval", "training")


def with_tuned(config: CompareConfig, fragment: dict[str, Any]) -> CompareConfig:
    """`config` with a `tailor tune` settings file applied: its arms replace the arms of the same name (the
    others keep theirs), its KB, retrieval and training sections replace the config's. What `config` never set
    stays unset, so a task still completes it (the examples task: its primary metric, short label answers)."""
    data = config.model_dump(exclude_unset=True)
    data["arms"] = [arm.model_dump(exclude_unset=True) for arm in config.arms]
    tuned = {arm["name"]: arm for arm in fragment.get("arms", [])}
    unknown = sorted(set(tuned) - {arm["name"] for arm in data["arms"]})
    if unknown:
        raise ValueError(f"tuned arm(s) {unknown} are not in the compare configuration")
    data["arms"] = [tuned.get(arm["name"], arm) for arm in data["arms"]]
    data.update({key: fragment[key] for key in TUNED_SECTIONS if key in fragment})
    return CompareConfig.model_validate(data)
