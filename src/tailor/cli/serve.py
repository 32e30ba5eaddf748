"""Serving commands: `tailor serve` and `tailor keys create|ls|revoke`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.table import Table

from tailor.cli._common import JsonOption, console, err_console, fail, print_json
from tailor.home import default_home

app = typer.Typer()
keys_app = typer.Typer(no_args_is_help=True, help="API keys of `tailor serve`: create, list, revoke.")

KeysOption = Annotated[Path | None, typer.Option("--keys", help="Key file (default $TAILOR_HOME/keys.json).")]


def _keys_file(keys: Path | None) -> Path:
    return keys or default_home() / "keys.json"


@app.command()
def serve(
    kb: Annotated[str, typer.Option("--kb", help="Knowledge base folder or URI (created if missing).")],
    config: Annotated[Path | None, typer.Option("--config", help="YAML with serve:, ask: and kb: sections.")] = None,
    tuned_settings: Annotated[Path | None, typer.Option(
        "--settings", help="A `tailor tune` settings file (TUNE/settings/rag-N.yaml): its search, chunking and "
                           "prompt replace the config's ask: and kb: sections.")] = None,
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    keys: KeysOption = None,
    reports: Annotated[Path | None, typer.Option("--reports", help="Folder of compare reports to browse.")] = None,
    home: Annotated[Path | None, typer.Option("--home", help="Project data dir (adapters, keys, uploads).")] = None,
    cors_origin: Annotated[
        list[str] | None, typer.Option("--cors-origin", help="Allow this origin by CORS (default: none).")
    ] = None,
) -> None:
    """Serve the HTTP API, the OpenAI-compatible endpoint and the web UI over one knowledge base."""
    import uvicorn

    from tailor.evaluate.tune.settings_files import read_settings_file
    from tailor.serve.app import create_app
    from tailor.serve.config import ServeSettings
    from tailor.serve.keys import KeyStore

    overrides = {"host": host, "port": port, "keys": keys, "reports": reports, "home": home,
                 "cors_origins": cors_origin or None}
    try:
        settings = ServeSettings.from_file(config, overrides)
        if tuned_settings:
            read_settings_file(tuned_settings)  # arms and sections of the right shape, templates from their folders
            settings = settings.with_tuned(tuned_settings)
    except (ValueError, ValidationError) as exc:
        fail(f"invalid configuration: {exc}")
    if settings.serve.compute_threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(settings.serve.compute_threads)
        threadpool_limits(settings.serve.compute_threads)  # numpy's BLAS and OpenMP pools, for this process
    if not KeyStore(settings.serve.keys_file).entries():
        err_console.print(f"[yellow]no API keys in {settings.serve.keys_file}[/]: every request will get 401; "
                          "create one with `tailor keys create --groups public --admin`")
    try:
        app = create_app(kb, settings)
    except (ValueError, FileNotFoundError) as exc:  # e.g. a KB built with another chunking than --settings'
        named = f" with the kb_index of --settings {tuned_settings}" if tuned_settings else ""
        fail(f"--kb {kb}: cannot open the knowledge base{named}: {exc}")
    if tuned_settings:
        _load_tuned_model(app, tuned_settings)
    console.print(f"Tailor on http://{settings.serve.host}:{settings.serve.port}  (web UI at /, API docs at /docs)")
    uvicorn.run(app, host=settings.serve.host, port=settings.serve.port, log_level="warning")


def _load_tuned_model(app: Any, path: Path) -> None:
    """Build the strategy a `--settings` file describes and load its model (one token) before serving: a
    template or model that cannot load exits 2 with the reason, instead of a server that starts, answers 503
    or 500 and says why only in its log."""
    from tailor.generate.base import GenerationConfig
    from tailor.serve.answering import ModelName

    state = app.state.serve
    try:
        name = ModelName.parse(state.settings.serve.default_strategy, "default_strategy")
        strategy = state.answerer.catalog.resolve(name, ()).strategy
        generator = getattr(getattr(strategy, "reader", None), "generator", None)
        if generator is not None:  # generators load lazily, on the first question
            generator.generate([{"role": "user", "content": "ready?"}], GenerationConfig(max_new_tokens=1))
    except Exception as exc:  # any failure to load is this one line; the server is not started
        fail(f"--settings {path}: its rag arm on base_model {state.settings.ask.generator} cannot load: "
             f"{type(exc).__name__}: {exc}")


@keys_app.command("create")
def keys_create(
    groups: Annotated[str, typer.Option("--groups", help="Comma-separated access groups, e.g. hr,public.")],
    admin: Annotated[bool, typer.Option("--admin", help="May upload and delete documents, run compares.")] = False,
    name: Annotated[str, typer.Option("--name", help="A label for the key (who holds it).")] = "",
    keys: KeysOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key; its secret is printed once and stored only as a hash."""
    from tailor.serve.keys import KeyStore

    try:
        key, token = KeyStore(_keys_file(keys)).create(tuple(groups.split(",")), admin=admin, name=name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if as_json:
        print_json({**key.public(), "key": token})
        return
    console.print(f"created key [bold]{key.id}[/] (groups {', '.join(key.groups)}{', admin' if key.admin else ''})")
    console.print("send it as 'Authorization: Bearer <key>'; it is not shown again:")
    typer.echo(token)


@keys_app.command("ls")
def keys_ls(keys: KeysOption = None, as_json: JsonOption = False) -> None:
    """Every key: id, groups, role, when created and revoked (never the secret)."""
    from tailor.serve.keys import KeyStore

    entries = KeyStore(_keys_file(keys)).entries()
    if as_json:
        print_json([key.public() for key in entries])
        return
    table = Table("id", "name", "groups", "admin", "created", "revoked")
    for key in entries:
        table.add_row(key.id, escape(key.name), ", ".join(key.groups), "yes" if key.admin else "",
                      key.created_at, key.revoked_at or "")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `tailor keys ls`).")],
                keys: KeysOption = None) -> None:
    """Revoke a key; a running server refuses it from its next request."""
    from tailor.serve.keys import KeyStore

    try:
        key = KeyStore(_keys_file(keys)).revoke(key_id)
    except KeyError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc.args[0]))}")
        raise typer.Exit(1) from exc
    console.print(f"revoked {key.id} at {key.revoked_at}")
