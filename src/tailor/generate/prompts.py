"""Chat prompts from jinja2 templates: a fixed system prompt and a user turn with fenced, numbered context.

A template defines two blocks. `system` is rendered with no variables, so no retrieved text can
ever change it. `user` gets the question and the context blocks, whose text has every run of
three or more angle brackets replaced by look-alike characters: a document cannot close the
fence it sits in or open a block of its own.

Templates are data: they render in jinja2's immutable sandbox and come only from the package or your
templates folder ($TAILOR_TEMPLATES, else $TAILOR_HOME/templates), named by their path inside it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tailor.config_files import ConfigFileError, inside
from tailor.generate.base import Message
from tailor.home import default_home
from tailor.records import Hit

TEMPLATES_DIR = Path(__file__).with_name("templates")
PACKAGE = Path(__file__).resolve().parents[1]  # shipped .jinja files: here and in finetune/templates
TEMPLATES_ENV = "TAILOR_TEMPLATES"
_FENCE_RUN = re.compile(r"<{3,}|>{3,}|\"{3,}")
_LOOKALIKE = str.maketrans("<>\"", "\u2039\u203a\u201d")


CHOICES_INSTRUCTION = "Answer with the letter of one option."
_OPTION = re.compile(r"^[A-Z]\. ")


def option_letter(index: int) -> str:
    """The letter of the option at `index`: A, B, ... (a question has at most 26 options)."""
    return chr(ord("A") + index)


def posed_question(question: str, choices: Sequence[str] = ()) -> str:
    """The question as every arm is asked it: unchanged, or followed by its options, one a line as
    "A. <option>", and `CHOICES_INSTRUCTION`. Every template renders it as its `question`, so the closed-book,
    RAG, fine-tuned and hybrid prompts all show the same choices block (`bare_question` undoes it)."""
    if not choices:
        return question
    options = [f"{option_letter(i)}. {' '.join(choice.split())}" for i, choice in enumerate(choices)]
    return "\n".join([question, *options, CHOICES_INSTRUCTION])


def bare_question(text: str) -> str:
    """`text` without the options and instruction `posed_question` added (any other text unchanged): what
    retrieval, sentence focus and the extractive reader read, so the options change only what the model is
    shown. The last option's letter says how many lines before it must be options A, B, ..."""
    lines = text.split("\n")
    if len(lines) < 3 or lines[-1] != CHOICES_INSTRUCTION or not _OPTION.match(lines[-2]):
        return text
    count = ord(lines[-2][0]) - ord("A") + 1
    options = lines[-1 - count : -1]
    if len(lines) < count + 2 or not all(o.startswith(f"{option_letter(i)}. ") for i, o in enumerate(options)):
        return text
    return "\n".join(lines[: -1 - count])


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


def templates_dir() -> Path:
    """The folder of your own prompt templates: $TAILOR_TEMPLATES, else $TAILOR_HOME/templates."""
    return Path(os.environ.get(TEMPLATES_ENV) or default_home() / "templates")


def template_path(name: str) -> Path:
    """The file of template `name`: a shipped name (`rag`), a .jinja file of the package (its absolute
    path, as the fine-tuning formats give theirs), or a .jinja file of `templates_dir()` by its name there
    (`brief.jinja`, `team/brief.jinja`). Any other path is refused: a settings file is data and may not
    make Tailor read a file elsewhere on the machine."""
    if not name.endswith(".jinja"):
        path = TEMPLATES_DIR / f"{name}.jinja"
        if not name or not name.replace("_", "").replace("-", "").isalnum() or not path.is_file():
            raise ValueError(f"no prompt template {name!r}; shipped: {', '.join(shipped_templates())}")
        return path
    folder = templates_dir()
    if Path(name).is_absolute():
        path = Path(name).resolve()
        if not (path.is_relative_to(PACKAGE) or path.is_relative_to(folder.resolve())):
            raise ValueError(f"prompt template {name!r} is outside the package and the templates folder {folder} "
                             f"(${TEMPLATES_ENV}): name a file there by its name in the folder")
    else:
        try:
            path = inside(folder, name, "template")
        except ConfigFileError as exc:
            raise ValueError(f"prompt {exc} (the templates folder, ${TEMPLATES_ENV})") from None
    if not path.is_file():
        raise ValueError(f"no prompt template {name!r} in {folder} (${TEMPLATES_ENV}); "
                         f"shipped: {', '.join(shipped_templates())}")
    return path


class _FolderLoader(jinja2.FileSystemLoader):
    """Templates of one folder; an `{% include %}` or `{% extends %}` through a link that leads out is refused."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        if not Path(filename).resolve().is_relative_to(Path(self.searchpath[0]).resolve()):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


def load_template(name: str) -> jinja2.Template:
    """Template `name` (see `template_path`), compiled in jinja2's immutable sandbox: a template is data, and
    one that reaches for Python internals (`cycler.__init__.__globals__`) fails instead of running code."""
    return _compile(template_path(name), name)


@lru_cache(maxsize=32)
def _compile(path: Path, name: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        loader=_FolderLoader(path.parent), undefined=jinja2.StrictUndefined, autoescape=False
    )
    try:
        template = env.get_template(path.name)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"prompt template {name!r}: line {exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise ValueError(f"prompt template {name!r}: {exc}") from None
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
        try:
            return "".join(self._template.blocks[block](context)).strip()
        except jinja2.TemplateError as exc:  # SecurityError (a sandbox escape), an undefined variable
            raise ValueError(f"prompt template {self.template_name!r}: block {block}: {exc}") from None

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
