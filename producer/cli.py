"""The command line: parses, resolves configuration, calls the library.

User mistakes end with one line on stderr and exit status 1; no traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from producer import __version__
from producer.config import SETTINGS, Settings, resolve
from producer.errors import ConfigError, ProducerError
from producer.live import LiveView, render_summary
from producer.runner import EventClock, run
from producer.sinks.base import Sink
from producer.stats import Summary
from producer.world import World, WorldConfig

__all__ = ["main"]

_FLAGS = {"quiet", "gzip", "no_check"}


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """One click option per setting, help and env var taken from the settings table."""
    for s in reversed(SETTINGS):
        default = f" [default: {s.default}]" if s.default not in (None, "false") else ""
        help_text = f"{s.help}{default} [env: {s.env}]"
        if s.name in _FLAGS:
            func = click.option(s.flag, s.name, is_flag=True, default=None, help=help_text)(func)
        else:
            func = click.option(s.flag, s.name, default=None, metavar="TEXT", help=help_text)(func)
    return func


class _UserError(click.ClickException):
    """A library error shown as one line, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"netflix-producer: error: {self.message}", err=True)


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProducerError as exc:
            raise _UserError(str(exc)) from None


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="netflix-producer")
def cli() -> None:
    """Synthetic Netflix-style playback events for Kinesis Data Firehose pipelines."""


@cli.command("run")
@_settings_options
def run_command(**flags: Any) -> None:
    """Generate playback sessions at an exact rate into a sink (the local lake by default).

    \b
    Examples:
      netflix-producer run --rate 500/s --duration 1m
      netflix-producer run --rate 2k/s --shape ramp:100/s..2k/s:60s --sink stdout | head
      netflix-producer run --start 2026-01-27 --end 2026-01-28 --rate 50/s --shape daily
    """
    settings = resolve({k: v for k, v in flags.items() if v is not None})
    summary = _run(settings)
    if summary.error:
        raise ProducerError(summary.error)


def _run(settings: Settings) -> Summary:
    from producer.sinks.factory import open_sink

    quiet = settings.quiet or settings.sink == "stdout" or not sys.stderr.isatty()
    destination = {
        "lake": f"lake {settings.lake_dir}",
        "file": f"file {settings.out}",
    }.get(settings.sink, settings.sink)

    def sink_factory(clock: EventClock) -> Sink:
        return open_sink(settings, clock)

    async def main(view: LiveView | None) -> Summary:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await run(
                settings,
                sink_factory,
                observer=view.update if view is not None else None,
                stop=stop,
            )
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    if quiet:
        summary = asyncio.run(main(None))
    else:
        with LiveView(destination=destination) as view:
            summary = asyncio.run(main(view))
    if settings.summary_json is not None:
        _write_json(settings.summary_json, summary.to_dict())
    if not settings.quiet and settings.sink != "stdout":
        render_summary(summary, Console(stderr=True))
        if settings.sink == "lake" and summary.delivered:
            Console(stderr=True).print(f"lake objects under [bold]{settings.lake_dir}[/]")
    return summary


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"--summary-json '{path}' is not writable: {exc.strerror or exc}"
        raise ConfigError(msg) from exc


@cli.group("world")
def world_group() -> None:
    """The seeded catalog and population."""


@world_group.command("export")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Directory to write.")
@click.option("--format", "fmt", default="parquet", show_default=True, help="parquet or csv.")
@click.option("--seed", default="42", show_default=True, help="World seed (use the run's seed).")
@click.option("--accounts", default=None, help="Accounts in the population [default: 250000].")
@click.option("--titles", default=None, help="Titles in the catalog [default: 16000].")
def world_export(out: Path, fmt: str, seed: str, accounts: str | None, titles: str | None) -> None:
    """Write the catalog and population as dimension tables (titles, playables, accounts, profiles)."""
    flags = {"seed": seed, "accounts": accounts, "titles": titles}
    settings = resolve({k: v for k, v in flags.items() if v is not None})
    if fmt not in ("parquet", "csv"):
        msg = f"invalid --format {fmt!r}: expected parquet or csv"
        raise ConfigError(msg)
    world = World(WorldConfig(seed=settings.seed, accounts=settings.accounts, titles=settings.titles))
    try:
        paths = world.export(out, fmt)
    except OSError as exc:
        msg = f"--out '{out}' is not writable: {exc.strerror or exc}"
        raise ConfigError(msg) from exc
    for p in paths:
        click.echo(str(p))


@cli.group("lake")
def lake_group() -> None:
    """Look at the local lake."""


@lake_group.command("summary")
@click.option("--lake-dir", "lake_dir", default=None, help="Root of the local lake [default: ./lake].")
def lake_summary(lake_dir: str | None) -> None:
    """Objects, records, event types and time range of what landed in the lake."""
    from datetime import UTC, datetime

    from rich.table import Table

    from producer.inventory import scan_lake

    settings = resolve({"lake_dir": lake_dir} if lake_dir else {})
    inv = scan_lake(settings.lake_dir)
    console = Console()

    def iso(ts: float | None) -> str:
        return "-" if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()

    t = Table(title=f"lake {inv.root}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("objects", f"{inv.objects:,}  ({inv.bytes:,} bytes)")
    t.add_row("records", f"{inv.records:,}")
    t.add_row("malformed lines", f"{inv.malformed:,}")
    t.add_row("event_ts range", f"{iso(inv.first_ts)} .. {iso(inv.last_ts)}")
    for name, count in inv.event_types.most_common():
        t.add_row(f"  {name}", f"{count:,}")
    for prefix, count in sorted(inv.prefixes.items())[:10]:
        t.add_row("prefix", f"{prefix}/  ({count} objects)")
    console.print(t)
    for line in inv.sample:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    if os.environ.get("NETFLIX_PRODUCER_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    cli.main(args=argv, prog_name="netflix-producer")
