"""`tailor serve` settings: the `serve:` section of a YAML file; every field also a flag of the command.

The same file may hold an `ask:` section (how non-adapter strategies answer: generator, top_k, ...),
a `kb:` section (retrieval settings) and an `audit:` section (what the audit trail keeps), read by
`ServeSettings.from_file`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, HttpUrl, field_validator

from tailor.audit import AuditConfig
from tailor.config_files import ConfigFileError, read_mapping, validate
from tailor.generate.registry import ENDPOINT_NAME, Endpoint
from tailor.generate.strategies import AskConfig
from tailor.home import default_home
from tailor.kb.config import KBConfig
from tailor.kb.loaders.registry import LOADERS

SECTIONS = {"serve", "ask", "kb", "audit"}


class LimitsConfig(BaseModel):
    """What one request may ask of the server; every limit answers with a 4xx naming what was exceeded."""

    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(1 << 20, ge=1024, description="Request body of every route but uploads")
    max_upload_bytes: int = Field(50 << 20, ge=1024, description="Whole multipart upload (all files)")
    max_file_bytes: int = Field(20 << 20, ge=1, description="One uploaded file")
    max_files: int = Field(100, ge=1, description="Files per upload")
    allowed_extensions: list[str] = Field(
        sorted(LOADERS), description="Uploadable file types (lower case, with the dot); default: every loader"
    )
    rate_per_minute: float = Field(600, gt=0, description="Sustained requests per minute per key")
    burst: int = Field(60, ge=1, description="Requests a key may make at once before the rate applies")
    answer_timeout_s: float = Field(120, gt=0, description="Longest time an answer may take (504 past it)")
    max_question_chars: int = Field(4000, ge=1, description="Longest question (or chat message) accepted")


class EndpointConfig(BaseModel):
    """An OpenAI-compatible server a compare request may pick by name (`openai:<name>#<model>`); its key,
    read from `api_key_env`, is sent to `url` only."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl = Field(description="Base URL, e.g. https://api.openai.com/v1")
    api_key_env: str | None = Field(None, description="Env var holding this endpoint's key; None: no key is sent")
    models: list[str] | None = Field(None, description="The models a request may name; None: any")

    def endpoint(self) -> Endpoint:
        return Endpoint(str(self.url).rstrip("/"), self.api_key_env, tuple(self.models) if self.models else None)


class ServeConfig(BaseModel):
    """The server: where it listens, where its keys and data live, which origins may call it."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field("127.0.0.1", description="Interface to bind; loopback unless a team proxy needs more")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")
    home: Path = Field(default_factory=default_home, description="Project data dir (adapters/ for finetuned:)")
    keys: Path | None = Field(None, description="API key file; default HOME/keys.json")
    data_dir: Path | None = Field(None, description="Uploads being ingested; default HOME/serve")
    reports: Path | None = Field(None, description="Folder of compare reports (sub-folders with report.html)")
    audit_dir: Path | None = Field(None, description="Audit trail folder; default <kb>/audit, or HOME/audit")
    cors_origins: list[str] = Field([], description="Origins allowed by CORS; empty: CORS off")
    default_strategy: str = Field("rag", description="Strategy of requests that name none")
    compute_threads: int | None = Field(
        1, ge=1, validation_alias=AliasChoices("compute_threads", "torch_threads"),
        description="Threads per torch forward pass and per BLAS/OpenMP call (None: the libraries' default, one per "
        "core). Requests already run in parallel threads: on a busy 2-core machine 1 gave 75 req/s where 2 torch "
        "threads gave 14, and numpy's OpenBLAS pool, left at its default, spun half a core (benchmarks/serve_load.py)",
    )
    query_runtime: Literal["torch", "onnx"] = Field(
        "onnx", description="Runs the query embedder's transformer on ONNX Runtime (onnx: the same vectors, 2.4x "
        "faster for one question on a CPU, exported once under HOME/models/onnx) or on torch",
    )
    job_nice: int = Field(
        10, ge=0, le=19, description="Ingestion and compare jobs run this much nicer than requests (0: same priority), "
        "so that a job embedding on the same cores slows answers less",
    )
    endpoints: dict[str, EndpointConfig] = Field(
        {}, description="OpenAI-compatible servers a compare request may name (`openai:<name>#<model>`); a request "
        "never gives a URL, and each key goes only to its own endpoint",
    )
    rerankers: list[str] = Field(
        [], description="Cross-encoders (hub ids or folders) a compare request may name in `retrieval.reranker`",
    )
    public_metrics: bool = Field(
        False, description="Serve /metrics without a key (request counts, latencies, abstentions; no document "
        "text); off: any valid key",
    )
    limits: LimitsConfig = LimitsConfig()

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, endpoints: dict[str, EndpointConfig]) -> dict[str, EndpointConfig]:
        for name in endpoints:
            if not ENDPOINT_NAME.match(name):
                raise ValueError(f"endpoint name {name!r}: letters, digits, '.', '_' and '-' only")
        return endpoints

    @property
    def keys_file(self) -> Path:
        return self.keys or self.home / "keys.json"

    @property
    def uploads_dir(self) -> Path:
        return (self.data_dir or self.home / "serve") / "uploads"


@dataclass
class ServeSettings:
    """Everything `create_app` needs besides the knowledge base location."""

    serve: ServeConfig = field(default_factory=ServeConfig)
    ask: AskConfig = field(default_factory=AskConfig)
    kb: KBConfig | None = None
    audit: AuditConfig = field(default_factory=AuditConfig)

    @classmethod
    def from_file(cls, path: Path | None, overrides: dict[str, object] | None = None) -> ServeSettings:
        """Sections `serve:`, `ask:`, `kb:`, `audit:` of a YAML file; `overrides` (not None) win over `serve:`."""
        data = read_mapping(path) if path else {}
        unknown = sorted(set(data) - SECTIONS)
        if unknown:
            raise ConfigFileError(
                f"{path}: unknown section(s) {', '.join(unknown)} (allowed: {', '.join(sorted(SECTIONS))})"
            )
        serve = {**(data.get("serve") or {}), **{k: v for k, v in (overrides or {}).items() if v is not None}}
        kb = data.get("kb")
        return cls(
            serve=validate(ServeConfig, serve, path, "serve"),
            ask=validate(AskConfig, data.get("ask") or {}, path, "ask"),
            kb=validate(KBConfig, kb, path, "kb") if kb is not None else None,
            audit=validate(AuditConfig, data.get("audit") or {}, path, "audit"),
        )

    def with_tuned(self, path: Path) -> ServeSettings:
        """A `tailor tune` settings file of the rag arm applied: its search settings and chunking (a KB built
        with another chunking refuses to open: re-ingest it), its prompt, and its base model as the generator."""
        data = read_mapping(path)
        rag = [arm for arm in data.get("arms", []) if arm.get("strategy") == "rag"]
        if not rag or "base_model" not in data:
            raise ConfigFileError(f"{path}: not a `tailor tune` settings file of a rag arm (see TUNE/settings/)")
        base = str(data["base_model"])
        prompt = {key: rag[0][key] for key in TUNED_PROMPT if key in rag[0]}
        ask = {**self.ask.model_dump(), **prompt, "strategy": "rag",
               "generator": base if ":" in base else f"hf:{base}"}
        kb = {"index": data.get("kb_index") or {}, "retrieval": data.get("retrieval") or {}}
        return ServeSettings(serve=self.serve, ask=validate(AskConfig, ask, path, "arms"),
                             kb=validate(KBConfig, kb, path), audit=self.audit)


TUNED_PROMPT = ("top_k", "template", "focus_sentences", "focus_abstain_below", "max_new_tokens", "quantize",
                "batch_size")
"""The fields of a tuned rag arm that are also `ask:` settings."""
