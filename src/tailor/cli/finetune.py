"""Fine-tuning commands: data build, finetune, base-model scratch, adapters ls|show|rm|promote|merge.

The commands that take a config model get one `--flag` per field (`config_flags`), plus `--config
FILE` (YAML or TOML); flags given on the command line override the file.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.markup import escape
from rich.table import Table

import tailor.finetune.strategies  # noqa: F401  (registers the finetuned and hybrid strategies for `tailor ask`)
from tailor.cli._common import EXIT_PARTIAL, JsonOption, console, err_console, print_json
from tailor.config_files import ConfigFileError
from tailor.finetune.config import DataConfig, FinetuneConfig, ScratchConfig, load_config
from tailor.finetune.registry import AdapterRegistry
from tailor.home import default_home

app = typer.Typer()
data_app = typer.Typer(no_args_is_help=True, help="Build training data from a knowledge base.")
base_model_app = typer.Typer(no_args_is_help=True, help="Base models for machines without a model hub.")
adapters_app = typer.Typer(no_args_is_help=True, help="The adapter registry: list, inspect, promote, merge.")

HomeOption = Annotated[Path | None, typer.Option("--home", help="Project data dir (default $TAILOR_HOME or ./.tailor).")]
RefArgument = Annotated[str, typer.Argument(help="NAME (promoted, else latest), NAME@VERSION or NAME@latest.")]
USER_ERRORS = (FileNotFoundError, FileExistsError, KeyError, ValueError, RuntimeError)


def _flag_type(annotation: Any) -> Any:
    """`X | None` -> X; everything else unchanged."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return inner
    return annotation


def config_flags(model: type[BaseModel]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command `--config FILE` and one flag per field of `model`; it receives the built config.

    The decorated function's first parameter is the config; its other parameters stay as they are.
    """

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(func, eval_str=True).parameters.values())[1:]
        flags = [
            inspect.Parameter(
                "config_file",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=Annotated[Path | None, typer.Option("--config", help="YAML or TOML file of these fields.")],
            )
        ]
        for name, field in model.model_fields.items():
            kind = _flag_type(field.annotation)
            flag = "--" + name.replace("_", "-")
            decls = (f"{flag}/--no-{flag[2:]}",) if kind is bool else (flag,)
            option = typer.Option(*decls, help=field.description, show_default=False)
            flags.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                           annotation=Annotated[kind | None, option]))

        def command(**values: Any) -> None:
            rest = {p.name: values.pop(p.name) for p in own}
            path = values.pop("config_file")
            try:
                config = load_config(model, path, values)
            except ConfigFileError as exc:
                err_console.print(f"[red]invalid configuration:[/] {escape(str(exc))}")
                raise typer.Exit(2) from exc
            run_or_fail(func, config, **rest)

        command.__name__, command.__doc__ = func.__name__, func.__doc__
        command.__signature__ = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + flags)
        return command

    return decorate


def run_or_fail(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run; a user-facing error becomes a red one-line message and exit status 1."""
    try:
        return func(*args, **kwargs)
    except typer.Exit:  # click's Exit is a RuntimeError: a command's own exit status goes through
        raise
    except USER_ERRORS as exc:
        err_console.print(f"[red]error:[/] {exc.args[0] if isinstance(exc, KeyError) else exc}")
        raise typer.Exit(1) from exc


@data_app.command("build")
@config_flags(DataConfig)
def data_build(config: DataConfig, as_json: JsonOption = False) -> None:
    """Build train/validation data (qa, raft or cpt) from a knowledge base, split by document. Lines of the QA
    file that are not QA pairs are skipped and listed; the exit status is then 3 (partial)."""
    from tailor.finetune.data import build_dataset

    card = build_dataset(config)
    if as_json:
        print_json(card)
    else:
        _print_card(config, card)
    if card["errors"]:
        raise typer.Exit(EXIT_PARTIAL)


def _print_card(config: DataConfig, card: dict[str, Any]) -> None:
    docs = {k: len(v) for k, v in card["documents"].items()}
    console.print(f"[bold]{config.out}[/] ({card['format']}): {card['examples']['train']} train / "
                  f"{card['examples']['validation']} validation examples from {docs['train']} / {docs['validation']} "
                  f"documents of KB version {card['kb']['version']} (groups {', '.join(card['groups'])})")
    if gen := card["generation"]:
        console.print(f"questions by {gen['writer']}: {gen['accepted']} accepted of {gen['requested']} asked; "
                      f"{gen['invalid']} invalid, {gen['duplicates']} duplicate, {gen['malformed']} malformed, "
                      f"{gen['errors']} failed calls")
    _print_quality(card.get("quality"))
    if card["skipped"]:
        console.print("skipped: " + ", ".join(f"{k} {v}" for k, v in card["skipped"].items()))
    for error in card["errors"]:
        err_console.print(f"[yellow]skipped[/] {escape(error['path'])}: {escape(error['reason'])}")
    console.print(f"[dim]hash {card['hash']}[/]")


def _print_quality(quality: dict[str, Any] | None) -> None:
    """The card's account of what the writer refused as no fact, and the shape of the kept answers."""
    if not quality:
        return
    if quality["rejected"] or quality["reference_markers_cut"]:
        refused = ", ".join(f"{k} {v}" for k, v in quality["rejected"].items()) or "nothing"
        console.print(f"refused as no fact: {refused}; reference markers cut from {quality['reference_markers_cut']} "
                      "sentences")
    shapes = quality["answer_shapes"]
    if shapes["answers"]:
        console.print(f"answers: {shapes['short_number']:.0%} short numbers, {shapes['short_name']:.0%} short names, "
                      f"{shapes['other']:.0%} other (median {shapes['median_words']} words)")
    for row in quality["kept_sample"][:3]:
        console.print(f"  e.g. {escape(row['question'])} -> {escape(row['answer'])}", highlight=False)


@app.command("finetune")
@config_flags(FinetuneConfig)
def finetune_command(
    config: FinetuneConfig,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the interrupted run of NAME.")] = False,
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Rich progress panel.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Fine-tune a base model (LoRA, QLoRA or full) and publish a new version into the adapter registry."""
    from tailor.finetune.train import finetune

    result = finetune(config, resume=resume, progress=show_progress and not as_json)
    if result.entry is None:  # not the main process
        return
    if as_json:
        print_json({"adapter": result.entry.ref, "path": str(result.entry.path), **result.entry.manifest})
        return
    _print_entry_summary(result.entry.manifest, result.entry.ref)


@base_model_app.command("scratch")
@config_flags(ScratchConfig)
def base_model_scratch(config: ScratchConfig, as_json: JsonOption = False) -> None:
    """Train a small FROM-SCRATCH DEMONSTRATION model (general text only), for machines with no hub."""
    from tailor.finetune.scratch import build_scratch_model

    facts = build_scratch_model(config)
    if as_json:
        print_json(facts)
        return
    console.print(f"[bold]{config.out}[/]: {facts['kind']}, {facts['parameters']:,} parameters, "
                  f"{facts['steps']} steps, mean loss {facts['mean_train_loss']:.3f}, {facts['seconds']}s")


def _registry(home: Path | None) -> AdapterRegistry:
    return AdapterRegistry(home or default_home())


def _headline(manifest: dict[str, Any]) -> dict[str, Any]:
    validation = manifest["metrics"].get("validation", {})
    return {
        "f1": validation.get("eval_f1"),
        "em": validation.get("eval_exact_match"),
        "loss": validation.get("eval_loss"),
        "tokens": manifest["cost"]["train_tokens"],
        "wall_clock_s": manifest["cost"]["wall_clock_s"],
    }


def _print_entry_summary(manifest: dict[str, Any], ref: str) -> None:
    head = _headline(manifest)
    base = manifest["base_model"]
    label = f" [yellow]({base['kind']})[/]" if base.get("kind") else ""
    scores = ", ".join(f"{k} {head[k]:.3f}" for k in ("f1", "em", "loss") if head[k] is not None)
    console.print(f"[bold]{ref}[/]: {manifest['method']} on {base['id']}{label}; validation {scores or 'n/a'}; "
                  f"{head['tokens']:,} tokens in {head['wall_clock_s']:.1f}s; for callers holding {_groups(manifest)}")


def _groups(manifest: dict[str, Any]) -> str:
    """The groups a caller must all hold to use the adapter (`require_adapter_access`)."""
    groups = manifest.get("groups")
    return ",".join(groups) if groups else "(none recorded: unrestricted callers only)"


@adapters_app.command("ls")
def adapters_ls(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Every version of every adapter, with its base model, data, validation scores and cost."""
    entries = _registry(home).entries()
    if as_json:
        print_json([{"ref": e.ref, "promoted": e.promoted, "path": str(e.path), **e.manifest} for e in entries])
        return
    table = Table("adapter", "promoted", "base model", "method", "data", "groups", "val F1", "val EM", "tokens",
                  "seconds")
    for e in entries:
        head, base = _headline(e.manifest), e.manifest["base_model"]
        table.add_row(
            e.ref, "*" if e.promoted else "", base["id"] + (f" ({base['kind']})" if base.get("kind") else ""),
            e.manifest["method"], e.manifest["dataset"]["format"], _groups(e.manifest),
            *(f"{head[k]:.3f}" if head[k] is not None else "-" for k in ("f1", "em")),
            f"{head['tokens']:,}", f"{head['wall_clock_s']:.1f}",
        )
    console.print(table)


@adapters_app.command("show")
def adapters_show(ref: RefArgument, home: HomeOption = None) -> None:
    """The manifest of one version (JSON)."""
    entry = run_or_fail(_registry(home).get, ref)
    print_json({"ref": entry.ref, "promoted": entry.promoted, "path": str(entry.path), **entry.manifest})


@adapters_app.command("rm")
def adapters_rm(ref: RefArgument, home: HomeOption = None) -> None:
    """Delete one version (NAME@VERSION) or every version of NAME."""
    removed = run_or_fail(_registry(home).remove, ref)
    console.print("removed " + ", ".join(e.ref for e in removed))


@adapters_app.command("promote")
def adapters_promote(ref: RefArgument, home: HomeOption = None) -> None:
    """Make a version the one that NAME resolves to (default: the latest)."""
    entry = run_or_fail(_registry(home).promote, ref)
    console.print(f"{entry.name} now resolves to {entry.ref}")


@adapters_app.command("merge")
def adapters_merge(
    ref: RefArgument,
    out: Annotated[Path, typer.Option("--out", help="Folder for the merged Transformers model.")],
    dtype: Annotated[str, typer.Option(help="bfloat16, float16 or float32.")] = "bfloat16",
    home: HomeOption = None,
) -> None:
    """Merge a LoRA adapter into its base model and save a plain model (vLLM, llama.cpp converter)."""
    from tailor.finetune.merge import merge_adapter

    entry = run_or_fail(_registry(home).get, ref)
    path = run_or_fail(merge_adapter, entry, out, dtype)
    console.print(f"merged {entry.ref} into {entry.base_model} ({dtype}) -> {path}")
