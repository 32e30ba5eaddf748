"""Build a generator from a spec string: "hf:<id-or-path>" or "openai:<base_url>#<model>"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tailor.generate.base import Generator, GeneratorError


@dataclass(frozen=True)
class GeneratorOptions:
    """Settings that come from outside the spec string."""

    adapter: str | None = None
    model: str | None = None


def _hf(target: str, options: GeneratorOptions) -> Generator:
    from tailor.generate.hf import HFGenerator

    if not target:
        raise GeneratorError("no model named; use 'hf:<hub-id-or-path>'")
    return HFGenerator(target, adapter=options.adapter)


def _openai(target: str, options: GeneratorOptions) -> Generator:
    from tailor.generate.openai_compat import OpenAICompatGenerator

    base_url, _, model = target.partition("#")
    model = model or options.model
    if not model:
        raise GeneratorError(f"no model named for openai:{target}; use 'openai:<base_url>#<model>'")
    if options.adapter:
        raise GeneratorError("an adapter can only be loaded onto an hf: model")
    return OpenAICompatGenerator(base_url, model)


FACTORIES: dict[str, Callable[[str, GeneratorOptions], Generator]] = {
    "hf": _hf,
    "openai": _openai,
}


def make_generator(spec: str, adapter: str | None = None, model: str | None = None) -> Generator:
    """Parse `<kind>[:<target>]` and build the generator registered for that kind."""
    kind, _, target = spec.partition(":")
    factory = FACTORIES.get(kind)
    if factory is None:
        known = ", ".join(f"{k}:..." for k in FACTORIES)
        raise GeneratorError(f"cannot make a generator from {spec!r}; expected one of {known}")
    return factory(target, GeneratorOptions(adapter=adapter, model=model))
