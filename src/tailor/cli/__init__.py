"""The `tailor` command line: a thin layer over the Python API, one module per stage."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import typer  # noqa: E402

from tailor.cli import ask, audit, compare, finetune, kb, tune  # noqa: E402
from tailor.cli import serve as serve_cli  # noqa: E402

app = typer.Typer(no_args_is_help=True, help="Adapt a language model to your data by RAG, LoRA or both.")
app.registered_commands += kb.app.registered_commands
app.registered_commands += ask.app.registered_commands
app.registered_commands += finetune.app.registered_commands
app.registered_commands += compare.app.registered_commands
app.registered_commands += tune.app.registered_commands
app.add_typer(kb.kb_app, name="kb")
app.add_typer(kb.eval_app, name="eval")
app.add_typer(finetune.data_app, name="data")
app.add_typer(finetune.base_model_app, name="base-model")
app.add_typer(finetune.adapters_app, name="adapters")
app.registered_commands += serve_cli.app.registered_commands
app.add_typer(serve_cli.keys_app, name="keys")
app.add_typer(audit.audit_app, name="audit")
