"""Build a generator from a spec string: "hf:<id-or-path>" (bare "hf": the bundled default model),
"openai:<base_url>#<model>" or "openai:<endpoint>#<model>".

A URL is the operator's own choice (the CLI): the key sent is $OPENAI_API_KEY. A named endpoint is one
registered by the program's config (`tailor serve`: `serve.endpoints`): its URL and the env var of its key
come from there, so a spec naming it never says where a request goes or which key it carries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tailor.base_models import DEFAULT_BASE_MODEL
from tailor.generate.base import Generator, GeneratorError


@dataclass(frozen=True)
class GeneratorOptions:
    """Settings that come from outside the spec string."""

    adapter: str | None = None
    model: str | None = None
    quantize: str | None = None  # hf: None or "int8"
    batch_size: int = 8  # hf: conversations per forward pass in generate_batch


def _hf(target: str, options: GeneratorOptions) -> Generator:
    from tailor.generate.hf import HFGenerator

    return HFGenerator(target or DEFAULT_BASE_MODEL, adapter=options.adapter, quantize=options.quantize, batch_size=options.batch_size)


ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Endpoint:
    """A named OpenAI-compatible server: its base URL, the env var holding its key (None: no key is sent),
    the models it may be asked for (None: any)."""

    url: str
    api_key_env: str | None = None
    models: tuple[str, ...] | None = None

    def offers(self, model: str) -> bool:
        return bool(model) and (self.models is None or model in self.models)


ENDPOINTS: dict[str, Endpoint] = {}
"""Named endpoints `openai:<name>#<model>` resolves, registered by `register_endpoints`."""


def register_endpoints(endpoints: Mapping[str, Endpoint]) -> None:
    """Make `openai:<name>#<model>` reach these endpoints (a name registered again takes the new one)."""
    for name in endpoints:
        if not ENDPOINT_NAME.match(name):
            raise ValueError(f"endpoint name {name!r}: letters, digits, '.', '_' and '-' only")
    ENDPOINTS.update(endpoints)


def _openai(target: str, options: GeneratorOptions) -> Generator:
    from tailor.generate.openai_compat import OpenAICompatGenerator

    where, _, model = target.partition("#")
    model = model or options.model or ""
    if not model:
        raise GeneratorError(f"no model named for openai:{target}; use 'openai:<base_url or endpoint>#<model>'")
    if options.adapter:
        raise GeneratorError("an adapter can only be loaded onto an hf: model")
    if options.quantize:
        raise GeneratorError("quantize applies to hf: models; an endpoint quantises on its own side")
    endpoint = ENDPOINTS.get(where)
    if endpoint is not None:
        if not endpoint.offers(model):
            raise GeneratorError(f"endpoint {where!r} offers no model {model!r} (it offers {list(endpoint.models or [])})")
        return OpenAICompatGenerator(endpoint.url, model, api_key_env=endpoint.api_key_env, label=where)
    if "://" not in where:
        known = ", ".join(sorted(ENDPOINTS)) or "none"
        raise GeneratorError(f"openai:{where}: no endpoint of that name (configured: {known}); "
                             "give 'openai:<base_url>#<model>' or configure it")
    return OpenAICompatGenerator(where, model)


FACTORIES: dict[str, Callable[[str, GeneratorOptions], Generator]] = {
    "hf": _hf,
    "openai": _openai,
}


def make_generator(spec: str, adapter: str | None = None, model: str | None = None,
                   quantize: str | None = None, batch_size: int = 8) -> Generator:
    """Parse `<kind>[:<target>]` and build the generator registered for that kind."""
    kind, _, target = spec.partition(":")
    factory = FACTORIES.get(kind)
    if factory is None:
        known = ", ".join(f"{k}:..." for k in FACTORIES)
        raise GeneratorError(f"cannot make a generator from {spec!r}; expected one of {known}")
    return factory(target, GeneratorOptions(adapter=adapter, model=model, quantize=quantize, batch_size=batch_size))
