"""One rule for every request field that names something the server loads, calls or writes: the value must
be one of the names the server offers for that field's kind (`ServerNames`), taken from its own registry and
config. A path, a URL, a hub id, `x.GGUF` are not names the server offers, so they are refused without
looking at their shape: a 422 naming the field, before any work. Fields that name a file or folder have
no names to offer at all: the server sets them (`SERVER_SET`).

    kind        names offered
    model       the bundled models, `scratch`, `openai:<endpoint>#<model>` of a configured endpoint
    generator   `base`, `extractive`, `hf` (the bundled default), `hf:<bundled model>`, a configured endpoint's
    judge       a generator but `base` and `extractive` (a judge is a language model)
    template    the shipped prompt templates
    reranker    `serve.rerankers`
    embedder    the served knowledge base's embedding model
    attention   the attention implementations built into transformers, and sdpa_packed (tailor.finetune)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tailor.base_models import BUNDLED
from tailor.generate.prompts import shipped_templates
from tailor.generate.registry import Endpoint
from tailor.serve.errors import ApiError

FINETUNE = {"base_model": "model", "attn_implementation": "attention"}
NAMED_FIELDS: dict[str, str] = {  # field (`[]`: every item of a list) -> kind of name it takes
    "base_model": "model",
    "judge": "judge",
    "arms[].generator": "generator",
    "arms[].template": "template",
    "retrieval.reranker": "reranker",
    "kb_index.embedder.model": "embedder",
    **{f"training.finetune.{name}": kind for name, kind in FINETUNE.items()},
    **{f"probes.leak_adapter.finetune.{name}": kind for name, kind in FINETUNE.items()},
}
RUN_NAMED = ("dataset", "home", "run_dir", "name")  # a run's own training folders and registry name
SERVER_SET = (  # files, folders and the run's groups: the server sets them, a request never does
    "docs", "kb", "questions", "changes", "out", "home", "report_groups", "examples",
    "probes.general_text", "probes.general_questions", "scratch.out", "scratch.kb", "scratch.general_text",
    *(f"training.finetune.{name}" for name in RUN_NAMED),
    *(f"probes.leak_adapter.finetune.{name}" for name in RUN_NAMED),
)
ATTENTION = ("sdpa_packed", "eager", "sdpa", "flash_attention_2", "flex_attention")


@dataclass(frozen=True)
class ServerNames:
    """The names a request may use, per kind, from the server's registry and config."""

    endpoints: Mapping[str, Endpoint]
    rerankers: tuple[str, ...] = ()
    embedders: tuple[str, ...] = ()

    def offered(self, kind: str) -> tuple[str, ...]:
        """The fixed names of `kind` (endpoint specs aside)."""
        llms = ("hf", *(f"hf:{name}" for name in BUNDLED))
        return {
            "model": (*BUNDLED, "scratch"), "generator": ("base", "extractive", *llms), "judge": llms,
            "template": tuple(shipped_templates()), "reranker": self.rerankers, "embedder": self.embedders,
            "attention": ATTENTION,
        }[kind]

    def accepts(self, kind: str, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if value in self.offered(kind):
            return True
        return kind in ("model", "generator", "judge") and self._endpoint_spec(value)

    def _endpoint_spec(self, value: str) -> bool:
        name, _, model = value.removeprefix("openai:").partition("#")
        endpoint = self.endpoints.get(name)
        return value.startswith("openai:") and endpoint is not None and endpoint.offers(model)

    def describe(self, kind: str) -> str:
        names = ", ".join(self.offered(kind)) or "none configured"
        if kind in ("model", "generator", "judge"):
            endpoints = ", ".join(sorted(self.endpoints)) or "none configured"
            return f"{names}, or openai:<endpoint>#<model> (endpoints: {endpoints})"
        return names


def _values(data: object, path: str, prefix: str = "settings") -> Iterator[tuple[str, Any]]:
    """(field, value) of every value the request gave at `path`."""
    head, _, rest = path.partition(".")
    if not isinstance(data, dict):
        return
    if head.endswith("[]"):
        items = data.get(head[:-2])
        for i, item in enumerate(items if isinstance(items, list) else []):
            yield from _values(item, rest, f"{prefix}.{head[:-2]}[{i}]")
    elif head in data:
        if rest:
            yield from _values(data[head], rest, f"{prefix}.{head}")
        else:
            yield f"{prefix}.{head}", data[head]


def require_server_names(settings: dict[str, Any], names: ServerNames) -> None:
    """422 naming the first request field whose value is not a name the server offers for it."""
    for path in SERVER_SET:
        for field, _ in _values(settings, path):
            raise ApiError(422, f"{field}: set by the server, not by a request", field)
    for path, kind in NAMED_FIELDS.items():
        for field, value in _values(settings, path):
            if value is not None and not names.accepts(kind, value):
                raise ApiError(422, f"{field}: {str(value)[:200]!r} is not a {kind} this server offers; "
                               f"give one of: {names.describe(kind)}", field)
