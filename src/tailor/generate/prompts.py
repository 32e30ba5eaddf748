"""Chat prompts from jinja2 templates: a fixed system prompt and a user turn with fenced, numbered context.

A template defines two blocks. `system` is rendered with no variables, so no retrieved text can
ever change it. `user` gets the question and the context blocks, whose text has every run of
three or more angle brackets replaced by look-alike characters: a document cannot close the
fence it sits in or open a block of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from tailor.generate.base import Message
from tailor.records import Hit

TEMPLATES_DIR = Path(__file__).with_name("templates")
_FENCE_RUN = re.compile(r"<{3,}|>{3,}|\"{3,}")
_LOOKALIKE = str.maketrans("<>\"", "\u2039\u203a\u201d")


def neutralise(text: str) -> str:
    """Text with fence-like runs (<<<, >>>>, \"\"\") defused; everything else is kept as it was."""
    return _FENCE_RUN.sub(lambda m: m.group().translate(_LOOKALIKE), text)


def _one_line(text: str) -> str:
    return " ".join(neutralise(text).split())


@dataclass(frozen=True)
class ContextBlock:
    """What the template sees of one hit: its number and fence-safe title, source, page and text."""

    n: int
    title: str
    source: str
    page: int | None
    text: str


@dataclass(frozen=True)
class Prompt:
    """Rendered messages and the hits behind them: context block n is `hits[n - 1]`."""

    messages: list[Message]
    hits: list[Hit]


def shipped_templates() -> list[str]:
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.jinja"))


@lru_cache(maxsize=32)
def load_template(name: str) -> jinja2.Template:
    """A shipped template by name (`rag`, `closed_book`) or a .jinja file by path."""
    path = Path(name)
    folder, file = (path.parent, path.name) if path.suffix == ".jinja" else (TEMPLATES_DIR, f"{name}.jinja")
    if not (folder / file).is_file():
        raise ValueError(f"no prompt template {name!r}; shipped: {', '.join(shipped_templates())}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined, autoescape=False
    )
    template = env.get_template(file)
    missing = {"system", "user"} - set(template.blocks)
    if missing:
        raise ValueError(f"prompt template {name!r} must define blocks {sorted(missing)}")
    return template


class PromptBuilder:
    """Renders one template into [system, user] messages for a question and its hits."""

    def __init__(self, template: str) -> None:
        self.template_name = template
        self._template = load_template(template)
        self.system = self._render("system", {})

    def _render(self, block: str, variables: dict[str, object]) -> str:
        context = self._template.new_context(variables)
        return "".join(self._template.blocks[block](context)).strip()

    def build(self, question: str, hits: list[Hit]) -> Prompt:
        blocks = [
            ContextBlock(
                n=n,
                title=_one_line(hit.doc_title),
                source=_one_line(hit.doc_source),
                page=hit.chunk.page,
                text=neutralise(hit.chunk.text),
            )
            for n, hit in enumerate(hits, start=1)
        ]
        user = self._render("user", {"question": neutralise(question), "blocks": blocks})
        messages: list[Message] = [
            {"role": "system", "content": self.system},
            {"role": "user", "content": user},
        ]
        return Prompt(messages=messages, hits=list(hits))
