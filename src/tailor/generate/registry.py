"""Build a generator from a spec string: "hf:<id-or-path>" (bare "hf": the bundled default model) or
"openai:<base_url>#<model>"."""

from __future__ import annotations

from collections.abc import Callable
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


def _openai(target: str, options: GeneratorOptions) -> Generator:
    from tailor.generate.openai_compat import OpenAICompatGenerator

    base_url, _, model = target.partition("#")
    model = model or options.model
    if not model:
        raise GeneratorError(f"no model named for openai:{target}; use 'openai:<base_url>#<model>'")
    if options.adapter:
        raise GeneratorError("an adapter can only be loaded onto an hf: model")
    if options.quantize:
        raise GeneratorError("quantize applies to hf: models; an endpoint quantises on its own side")
    return OpenAICompatGenerator(base_url, model)


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
