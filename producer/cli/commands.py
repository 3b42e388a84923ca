"""The command line: parses, resolves configuration, calls the library.

User mistakes end with one line on stderr and exit status 1; no traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.shell_completion import CompletionItem
from rich.console import Console

from producer import __version__
from producer.cli.live import LiveView, render_summary
from producer.cli.loop import run_until_interrupted
from producer.config.settings import SETTINGS, SINKS, TRANSPORTS, Settings, parse_speed, resolve
from producer.errors import ConfigError, ProducerError
from producer.generation.world import World
from producer.runtime.clock import EventClock
from producer.runtime.runner import run
from producer.runtime.stats import Summary
from producer.sinks.base import Sink

if TYPE_CHECKING:
    from producer.pipeline.etl import JobOption

__all__ = ["main"]

_FLAGS = {"quiet", "gzip", "no_check"}


#: The settings that make sense for replay (where events come from a capture).
_REPLAY_SETTINGS = frozenset(
    {"sink", "lake_dir", "stream", "prefix", "buffer_size", "buffer_interval", "gzip", "out", "bucket",
     "region", "profile", "endpoint_url", "transport", "max_in_flight", "max_attempts", "max_retry_time",
     "no_check", "partition_key", "throttle_rate", "call_failure_rate", "quota", "linger", "batch_records",
     "dead_letter", "summary_json", "report", "quiet", "manifest"}
)  # fmt: skip


def _expected(choices: tuple[str, ...] | list[str]) -> str:
    return f"{choices[0]} or {choices[1]}" if len(choices) == 2 else "one of " + ", ".join(choices)


class _Choice(click.Choice[str]):
    """A fixed set of values: shown in --help, completed by the shell, one-line errors."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        super().__init__(choices, case_sensitive=False)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r}: expected {_expected([str(c) for c in self.choices])}", param, ctx)


class _IntRange(click.IntRange):
    """A whole number within bounds, with the project's one-line error."""

    def __init__(self, lo: int, hi: int, why: str = "") -> None:
        super().__init__(lo, hi)
        self.why = why

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            why = f" ({self.why})" if self.why else ""
            self.fail(f"{value!r}: expected a whole number within {self.min}..{self.max}{why}", param, ctx)


class _Share(click.FloatRange):
    """A share within [0, 1]."""

    def __init__(self) -> None:
        super().__init__(0.0, 1.0)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(f"{value!r}: expected a share within [0, 1], e.g. 0.05", param, ctx)


#: Settings with fixed values or bounds; the others are parsed by config.resolve (rates,
#: sizes, durations and counts take suffixes such as 5k/s, 5MiB, 10m, 1e6).
_TYPES: dict[str, click.ParamType[Any]] = {
    "sink": _Choice(SINKS),
    "transport": _Choice(TRANSPORTS),
    "partition_key": _Choice(("user_id", "session_id", "random")),
    "max_in_flight": _IntRange(1, 64),
    "max_attempts": _IntRange(1, 50),
    "batch_records": _IntRange(1, 500, "PutRecordBatch takes at most 500 records"),
    "throttle_rate": _Share(),
    "call_failure_rate": _Share(),
}


def _complete_scenario(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shipped scenario names; anything that looks like a path is left to the shell."""
    from producer.config.scenario import shipped_scenarios

    if "/" in incomplete or incomplete.startswith("."):
        return [CompletionItem(incomplete, type="file")]
    names = [p.stem for p in shipped_scenarios()]
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def _complete_query(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shipped query names, in the dashed form the examples use."""
    from producer.pipeline.query import named_queries

    names = [stem.replace("_", "-") for stem in named_queries()]
    return [CompletionItem(n) for n in names if n.startswith(incomplete.replace("_", "-"))]


def _settings_options(func: Callable[..., Any], only: frozenset[str] | None = None) -> Callable[..., Any]:
    """One click option per setting, help and env var taken from the settings table."""
    for s in reversed(SETTINGS):
        if only is not None and s.name not in only:
            continue
        default = f" [default: {s.default}]" if s.default not in (None, "false") else ""
        help_text = f"{s.help}{default} [env: {s.env}]"
        if s.name in _FLAGS:
            func = click.option(s.flag, s.name, is_flag=True, default=None, help=help_text)(func)
        elif s.name in _TYPES:
            func = click.option(s.flag, s.name, default=None, type=_TYPES[s.name], help=help_text)(func)
        else:
            func = click.option(s.flag, s.name, default=None, metavar="TEXT", help=help_text)(func)
    return func


class _UserError(click.ClickException):
    """A library error shown as one line, exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        # A scenario with several problems gives one line each.
        for line in self.message.splitlines() or [""]:
            click.echo(f"netflix-producer: error: {line}", err=True)


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProducerError as exc:
            raise _UserError(str(exc)) from None
        except click.BadParameter as exc:
            # One line in the project's form: "invalid --sink 'kafka': expected one of ...".
            param = exc.param
            name = param.opts[0] if param is not None and param.opts else (exc.param_hint or "value")
            msg = f"invalid {name} {exc.message}"
            raise _UserError(msg) from None


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="netflix-producer")
def cli() -> None:
    """Synthetic Netflix-style playback events for Kinesis Data Firehose pipelines."""


@cli.command("run")
@click.option(
    "--scenario",
    "scenario",
    default=None,
    metavar="NAME|PATH",
    shell_complete=_complete_scenario,
    help="A scenario file, or the name of a shipped one (see 'scenarios list'); flags and "
    "environment variables override its values. [env: NETFLIX_PRODUCER_SCENARIO]",
)
@_settings_options
def run_command(scenario: str | None, **flags: Any) -> None:
    """Generate playback sessions at an exact rate into a sink (the local lake by default).

    \b
    Examples:
      netflix-producer run --rate 500/s --duration 1m
      netflix-producer run --rate 2k/s --shape ramp:100/s..2k/s:60s --sink stdout | head
      netflix-producer run --start 2026-01-27 --end 2026-01-28 --rate 50/s --shape daily
    """
    from producer.config.scenario import resolve_run

    scenario = scenario or os.environ.get("NETFLIX_PRODUCER_SCENARIO") or None
    settings = resolve_run({k: v for k, v in flags.items() if v is not None}, scenario=scenario)
    summary = _run(settings)
    if summary.error:
        raise ProducerError(summary.error)


@cli.command("report")
@click.argument("summary", type=click.Path(path_type=Path))
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), default=None,
    help="The HTML file (default: the summary's name with .html).",
)  # fmt: skip
def report_command(summary: Path, output: Path | None) -> None:
    """Draw a run's summary (written by --summary-json) as one HTML page that opens offline.

    \b
    Examples:
      netflix-producer run --duration 1m --summary-json run.json && netflix-producer report run.json
      netflix-producer report run.json -o /tmp/run.html
    """
    from producer.report.html import check_report, read_summary, write_report

    data = read_summary(summary)
    target = output if output is not None else summary.with_suffix(".html")
    check_report(target)
    write_report(data, target)
    click.echo(f"report: {target}", err=True)


@cli.command("replay")
@click.argument("capture", type=click.Path(path_type=Path))
@click.option(
    "--speed", "speed", default="1x", show_default=True, help="1x (original timing), 10x, ... or max."
)
@lambda f: _settings_options(f, _REPLAY_SETTINGS)
def replay_command(capture: Path, speed: str, **flags: Any) -> None:
    """Send a capture's records again, same bytes, same order, same relative timing.

    \b
    Examples:
      netflix-producer replay run.ndjson.gz --speed max            # into ./lake
      netflix-producer replay run.ndjson --sink firehose --stream netflix-events --speed 10x
    """
    factor = parse_speed(speed, "--speed")
    # No dims: the capture does not say which world its events came from.
    resolved = resolve({k: v for k, v in flags.items() if v is not None})
    settings = dataclasses.replace(resolved, speed=factor, write_dims=False)
    summary = _run(settings, capture=capture)
    if summary.error:
        raise ProducerError(summary.error)


def _run(settings: Settings, capture: Path | None = None) -> Summary:
    from producer.sinks.registry import open_sink, spec_of

    to_stdout = settings.summary_json is not None and str(settings.summary_json) == "-"
    if settings.report is not None:
        from producer.report.html import check_report

        check_report(settings.report)  # before the run, not after it
    if to_stdout and settings.sink == "stdout":
        msg = "--summary-json - and --sink stdout both write to stdout: give --summary-json a file"
        raise ConfigError(msg)
    # The live view and the summary table always go to stderr; the live view stays off
    # when events go to stdout (on a terminal they would interleave).
    quiet = settings.quiet or settings.sink == "stdout" or not sys.stderr.isatty()
    destination = spec_of(settings.sink).destination(settings) or settings.sink

    def sink_factory(clock: EventClock) -> Sink:
        return open_sink(settings, clock)

    async def main(view: LiveView | None, stop: asyncio.Event) -> Summary:
        observer = view.update if view is not None else None
        if capture is not None:
            from producer.runtime.replay import replay

            return await replay(capture, settings, sink_factory, observer=observer, stop=stop)
        return await run(settings, sink_factory, observer=observer, stop=stop)

    if capture is None:
        hint = realtime_hint(settings)
        if hint is not None:
            click.echo(f"netflix-producer: {hint}", err=True)
    if quiet:
        summary = run_until_interrupted(lambda stop: main(None, stop))
    else:
        with LiveView(destination=destination, total=planned_events(settings)) as view:
            summary = run_until_interrupted(lambda stop: main(view, stop))
    if to_stdout:
        _print_json(summary.to_dict())
    elif settings.summary_json is not None:
        _write_json(settings.summary_json, summary.to_dict())
    if settings.report is not None:
        from producer.report.html import write_report

        write_report(summary.to_dict(), settings.report)
    if not settings.quiet:
        render_summary(summary, Console(stderr=True))
        if settings.sink == "lake" and summary.delivered:
            Console(stderr=True).print(f"lake objects under [bold]{settings.lake_dir}[/]")
        if settings.report is not None:
            Console(stderr=True).print(f"report: [bold]{settings.report}[/]")
    return summary


def planned_events(settings: Settings, start: float | None = None) -> int | None:
    """How many events a finite run will generate (before data faults), None if unbounded."""
    import time

    schedule = settings.shape.bind(settings.start if settings.start is not None else (start or time.time()))
    limits = [] if settings.count is None else [settings.count]
    if settings.duration_s is not None:
        limits.append(schedule.count_before(settings.duration_s))
    if settings.end is not None and settings.start is not None:
        limits.append(schedule.count_before(settings.end - settings.start))
    return min(limits) if limits else None


def realtime_hint(settings: Settings, *, longer_than_s: float = 60.0) -> str | None:
    """One line warning that a finite realtime run will take a while, or None."""
    import time

    if settings.start is not None:
        return None
    total = planned_events(settings, time.time())
    if total is None or total < 1:
        return None
    # The last event's time on the schedule is when the run ends.
    seconds = float(settings.shape.bind(time.time()).offsets(total - 1, 1)[0])
    if settings.duration_s is not None:
        seconds = min(seconds, settings.duration_s)
    if seconds <= longer_than_s:
        return None
    took = f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"
    return (
        f"runs in real time at {settings.target_rate:,.0f}/s: about {took}; "
        "add --start <time> to generate as fast as possible"
    )


def _print_json(data: dict[str, Any]) -> None:
    """Write ``data`` to stdout; a reader that has gone away is no error."""
    try:
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        from producer.sinks.stdout import silence_stdout

        silence_stdout()


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


@cli.group("scenarios")
def scenarios_group() -> None:
    """Shipped scenarios, and checking scenario files."""


@scenarios_group.command("list")
def scenarios_list() -> None:
    """The shipped scenarios, with what each reproduces."""
    from producer.config.scenario import load_scenario, shipped_scenarios

    for path in shipped_scenarios():
        sc = load_scenario(path)
        first = sc.description.strip().splitlines()[0] if sc.description.strip() else ""
        click.echo(f"{sc.name:<22} {first}")


@scenarios_group.command("show")
@click.argument("name", shell_complete=_complete_scenario)
def scenarios_show(name: str) -> None:
    """Print a shipped scenario (or any scenario file)."""
    from producer.config.scenario import find_scenario

    click.echo(find_scenario(name).read_text(encoding="utf-8"), nl=False)


@scenarios_group.command("validate")
@click.argument("paths", nargs=-1, required=True)
def scenarios_validate(paths: tuple[str, ...]) -> None:
    """Check scenario files; one line per problem, exit 1 if any is invalid."""
    from producer.config.scenario import find_scenario, load_scenario

    bad = 0
    for name in paths:
        try:
            sc = load_scenario(find_scenario(name))
        except ProducerError as exc:
            for line in str(exc).splitlines():
                click.echo(f"invalid: {line}", err=True)
            bad += 1
        else:
            click.echo(f"ok: {sc.path} ({sc.name})")
    if bad:
        raise SystemExit(1)


@scenarios_group.command("schema")
def scenarios_schema() -> None:
    """Print the JSON Schema (draft 2020-12) of scenario files, for editors and CI.

    Generated from the schema the validator reads; the shipped copy is
    scenarios/scenario.schema.json (make scenario-schema rewrites it).
    """
    from producer.config.scenario import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


@cli.group("world")
def world_group() -> None:
    """The seeded catalog and population."""


@world_group.command("export")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Directory to write.")
@click.option(
    "--format",
    "fmt",
    default="parquet",
    show_default=True,
    type=_Choice(("parquet", "csv")),
    help="File format of the tables.",
)
@click.option("--seed", default="42", show_default=True, help="World seed (use the run's seed).")
@click.option("--accounts", default=None, help="Accounts in the population [default: 250000].")
@click.option("--titles", default=None, help="Titles in the catalog [default: 16000].")
def world_export(out: Path, fmt: str, seed: str, accounts: str | None, titles: str | None) -> None:
    """Write the catalog and population as dimension tables (titles, playables, accounts, profiles)."""
    flags = {"seed": seed, "accounts": accounts, "titles": titles}
    settings = resolve({k: v for k, v in flags.items() if v is not None})
    world = World(settings.world_config())
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

    from producer.landed.inventory import scan_lake

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
    if inv.unreadable:
        t.add_row("unreadable objects", f"{inv.unreadable:,}")
    t.add_row("event_ts range", f"{iso(inv.first_ts)} .. {iso(inv.last_ts)}")
    for name, count in inv.event_types.most_common():
        t.add_row(f"  {name}", f"{count:,}")
    for prefix, count in sorted(inv.prefixes.items())[:10]:
        t.add_row("prefix", f"{prefix}/  ({count} objects)")
    console.print(t)
    for line in inv.sample:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@cli.command("verify")
@click.option(
    "--manifest",
    "manifest",
    envvar="NETFLIX_PRODUCER_MANIFEST",
    type=click.Path(path_type=Path),
    help="Manifest written by 'run --manifest'. [env: NETFLIX_PRODUCER_MANIFEST]",
)
@click.option(
    "--lake-dir",
    "lake_dir",
    envvar="NETFLIX_PRODUCER_LAKE_DIR",
    type=click.Path(path_type=Path),
    help="Local lake to check. [env: NETFLIX_PRODUCER_LAKE_DIR]",
)
@click.option("--s3", "s3_url", default=None, metavar="s3://BUCKET/PREFIX", help="S3 location to check.")
@click.option("--region", envvar="NETFLIX_PRODUCER_REGION", help="AWS region. [env: NETFLIX_PRODUCER_REGION]")
@click.option(
    "--profile", envvar="NETFLIX_PRODUCER_PROFILE", help="AWS profile. [env: NETFLIX_PRODUCER_PROFILE]"
)
@click.option(
    "--endpoint-url",
    "endpoint_url",
    envvar="NETFLIX_PRODUCER_ENDPOINT_URL",
    help="S3 endpoint (e.g. a local emulator). [env: NETFLIX_PRODUCER_ENDPOINT_URL]",
)
@click.option(
    "--json", "json_path", type=click.Path(path_type=Path), help="Also write the report as JSON here."
)
@click.pass_context
def verify_command(
    ctx: click.Context,
    manifest: Path | None,
    lake_dir: Path | None,
    s3_url: str | None,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    json_path: Path | None,
) -> None:
    """Check that every event a run delivered landed: missing, duplicated, unexpected, lag.

    Exit status 0 when nothing is missing, 1 when events are missing or on an error.

    \b
    Examples:
      netflix-producer run --count 100k --manifest run.manifest
      netflix-producer verify --manifest run.manifest --lake-dir lake
      netflix-producer verify --manifest run.manifest --s3 s3://my-raw-bucket/netflix/
    """
    from rich.table import Table

    from producer.landed.verify import LakeSource, S3Source, verify

    if manifest is None:
        msg = "verify needs --manifest PATH (or NETFLIX_PRODUCER_MANIFEST)"
        raise ConfigError(msg)
    # A lake directory from the environment gives way to an explicit --s3.
    if s3_url is not None and ctx.get_parameter_source("lake_dir") is click.core.ParameterSource.ENVIRONMENT:
        lake_dir = None
    source: LakeSource | S3Source
    if s3_url is not None and lake_dir is not None:
        msg = "give one of --lake-dir and --s3, not both"
        raise ConfigError(msg)
    if s3_url is not None:
        source = S3Source.from_url(s3_url, region=region, profile=profile, endpoint_url=endpoint_url)
    elif lake_dir is not None:
        source = LakeSource(root=lake_dir)
    else:
        msg = "verify needs --lake-dir DIR or --s3 s3://bucket/prefix"
        raise ConfigError(msg)
    report = verify(manifest, source)

    def seconds(value: float | None) -> str:
        return "-" if value is None else f"{value:,.3f} s"

    t = Table(title=f"verify {report.source}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(justify="right")
    t.add_row("expected events", f"{report.expected:,}")
    t.add_row("found", f"{report.found:,}")
    t.add_row("missing", f"{report.missing:,}", style="red" if report.missing else None)
    t.add_row("duplicated (extra copies)", f"{report.duplicated:,}")
    t.add_row("unexpected", f"{report.unexpected:,}")
    t.add_row("malformed lines", f"{report.malformed:,}")
    t.add_row("lines without event_id", f"{report.unidentified:,}")
    t.add_row("objects / records", f"{report.objects:,} / {report.records:,}")
    if report.unreadable_objects:
        t.add_row("unreadable objects", f"{report.unreadable_objects:,}", style="red")
    if report.lag_applicable:
        t.add_row(
            "lag p50 / p95 / p99",
            " / ".join(map(seconds, (report.lag_p50_s, report.lag_p95_s, report.lag_p99_s))),
        )
        t.add_row("lag max", seconds(report.lag_max_s))
    else:
        # Object names carry simulated (event) time: object time minus event_ts is no lag.
        t.add_row("delivery lag", "not applicable (simulated clock)")
    for example in report.missing_examples:
        t.add_row("  missing", example)
    Console().print(t)
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            msg = f"--json '{json_path}' is not writable: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
    if not report.ok:
        click.echo(f"verify: {report.missing} of {report.expected} events missing", err=True)
        ctx.exit(1)


# -- the downstream pipeline: the Glue job on a local Spark, the Athena queries on DuckDB --


def _lake_defaults(lake_dir: str | None = None) -> tuple[Path, Path]:
    """The configured lake's raw zone and processed table directory."""
    from producer.pipeline.etl import raw_root

    settings = resolve({"lake_dir": lake_dir} if lake_dir else {})
    return raw_root(settings.lake_dir, settings.prefix), settings.lake_dir / "processed"


def _etl_options(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One click option per job option the local ETL takes (or those ``names``), from the
    Glue script's declarations: flag, default and help."""
    from producer.pipeline.etl import job_options

    chosen = [o for o in job_options(local=True) if not names or o.name in names]

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        for o in reversed(chosen):
            kind = _etl_type(o)
            if o.kind is bool:
                func = click.option(o.flag, o.name, is_flag=True, help=o.help)(func)
            elif kind is not None:
                func = click.option(
                    o.flag, o.name, default=o.default, show_default=True, type=kind, help=o.help
                )(func)
            else:
                func = click.option(o.flag, o.name, default=o.default_text, show_default=True, help=o.help)(
                    func
                )
        return func

    return decorate


def _etl_type(option: JobOption) -> click.ParamType[Any] | None:
    """The click type of a job option whose values click can check (and complete)."""
    if option.choices:
        return _Choice(option.choices)
    if option.kind is float and (option.minimum, option.maximum) == (0.0, 1.0):
        return _Share()
    return None


def _etl_values(given: dict[str, Any]) -> dict[str, Any]:
    """The job options from their flags: those click did not check, checked by their declaration."""
    from producer.pipeline.etl import job_options, parse_option

    untyped = {o.name for o in job_options() if o.kind is not bool and _etl_type(o) is None}
    return {name: parse_option(name, value) if name in untyped else value for name, value in given.items()}


def _print_dq_report(report: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    from producer.pipeline.etl import summary_rows

    verdict = "[green]passed[/]" if report["passed"] else "[red]FAILED[/]"
    t = Table(title=f"data quality: {verdict}", show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column(overflow="fold")
    for label, value in summary_rows(report):
        t.add_row(label, value, style="red" if value.startswith("FAIL") else None)
    console.print(t)


def _etl(
    raw: Path,
    processed: Path,
    *,
    quarantine: Path | None,
    report_dir: Path | None,
    **options: Any,
) -> dict[str, Any]:
    from producer.errors import DataQualityError
    from producer.pipeline.etl import run_etl

    console = Console()
    try:
        report = run_etl(
            raw,
            processed,
            quarantine=quarantine,
            report_dir=report_dir,
            **options,
        )
    except DataQualityError as exc:
        _print_dq_report(dict(exc.report), console)
        raise
    _print_dq_report(report, console)
    return report


@cli.command("etl")
@click.option(
    "--raw", type=click.Path(path_type=Path), default=None, help="Raw zone [default: the lake's netflix/]."
)
@click.option(
    "--processed",
    type=click.Path(path_type=Path),
    default=None,
    help="Processed table (Parquet, partitioned by event_date) [default: <lake-dir>/processed].",
)
@click.option(
    "--quarantine",
    type=click.Path(path_type=Path),
    default=None,
    help="Rejected rows, with a reason [default: quarantine/ next to --processed].",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data-quality reports (JSON) [default: dq-reports/ next to --processed].",
)
@_etl_options()
def etl_command(
    raw: Path | None,
    processed: Path | None,
    quarantine: Path | None,
    report_dir: Path | None,
    **options: Any,
) -> None:
    """Run the Glue job (glue_scripts/netflix_raw_to_processed.py) on a local Spark.

    Reads the raw zone (plain or GZIP NDJSON), quarantines bad rows with a reason,
    removes duplicates, writes Snappy Parquet partitioned by event_date (re-runs are
    idempotent) and a data-quality report. Exit status 1 when a rule fails.

    \b
    Examples:
      netflix-producer etl --raw ./lake/netflix --processed ./lake/processed
      netflix-producer etl --null-event-ts default_partition --max-quarantine-ratio 0.1
    """
    default_raw, default_processed = _lake_defaults()
    _etl(
        raw or default_raw,
        processed or default_processed,
        quarantine=quarantine,
        report_dir=report_dir,
        **_etl_values(options),
    )


def _print_query_result(result: Any, fmt: str, title: str | None = None) -> None:
    import csv
    import datetime as dt
    from decimal import Decimal

    from rich.table import Table

    def plain(value: Any) -> Any:
        if isinstance(value, dt.date | dt.datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return float(value)
        return value

    if fmt == "json":
        rows = [dict(zip(result.columns, map(plain, row), strict=True)) for row in result.rows]
        click.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([["" if v is None else plain(v) for v in row] for row in result.rows])
    else:
        t = Table(title=title, title_justify="left")
        for i, name in enumerate(result.columns):
            numeric = any(isinstance(row[i], int | float | Decimal) for row in result.rows)
            t.add_column(name, justify="right" if numeric else "left")
        for row in result.rows:
            t.add_row(*("NULL" if v is None else str(plain(v)) for v in row))
        Console().print(t)


@cli.command("query")
@click.argument("name", required=False, shell_complete=_complete_query)
@click.option("--sql", "sql", default=None, help="Run this Athena (Trino) SQL instead of a shipped query.")
@click.option(
    "--file", "sql_file", type=click.Path(path_type=Path), default=None, help="Run the SQL in this file."
)
@click.option(
    "--processed",
    type=click.Path(path_type=Path),
    default=None,
    help="Processed table written by 'etl' [default: <lake-dir>/processed].",
)
@click.option(
    "--quarantine",
    type=click.Path(path_type=Path),
    default=None,
    help="Quarantine written by 'etl', queryable as quarantined_netflix_events "
    "[default: quarantine/ next to --processed].",
)
@click.option(
    "--dims",
    type=click.Path(path_type=Path),
    default=None,
    help="The world's dimension tables written by the run, queryable as netflix_titles, "
    "netflix_playables, netflix_accounts, netflix_profiles [default: dims/ next to --processed].",
)
@click.option(
    "--format",
    "fmt",
    default="table",
    show_default=True,
    type=_Choice(("table", "csv", "json")),
    help="Output format.",
)
def query_command(
    name: str | None,
    sql: str | None,
    sql_file: Path | None,
    processed: Path | None,
    quarantine: Path | None,
    dims: Path | None,
    fmt: str,
) -> None:
    """Run an Athena query (a file of queries/, or your own SQL) on DuckDB over the processed table.

    The table is processed_netflix_events, as in the Glue Catalog. Trino functions
    DuckDB lacks are translated by sqlglot; integer division is Trino's (7 / 2 = 3).
    With no NAME, --sql or --file, lists the shipped queries.

    \b
    Examples:
      netflix-producer query top-titles
      netflix-producer query --sql "SELECT event_date, COUNT(*) FROM processed_netflix_events GROUP BY 1"
      netflix-producer query rows_per_date --format csv --processed ./lake/processed
    """
    from producer.pipeline.etl import default_quarantine_dir
    from producer.pipeline.query import (
        default_dims_dir,
        find_query,
        named_queries,
        query_description,
        run_query,
    )

    given = [x for x in (name, sql, sql_file) if x is not None]
    if len(given) > 1:
        msg = "give one of NAME, --sql and --file"
        raise ConfigError(msg)
    if not given:
        for stem, shipped in named_queries().items():
            click.echo(f"{stem:<34} {query_description(shipped)}")
        return
    title = None
    if sql is None:
        source = find_query(name) if name is not None else sql_file
        assert source is not None
        try:
            sql = source.read_text(encoding="utf-8")
        except OSError as exc:
            msg = f"--file '{source}' is not readable: {exc.strerror or exc}"
            raise ConfigError(msg) from exc
        title = source.stem
    processed = processed or _lake_defaults()[1]
    result = run_query(
        sql,
        processed,
        quarantine=quarantine or default_quarantine_dir(processed),
        dims=dims or default_dims_dir(processed),
    )
    _print_query_result(result, fmt, title)


@cli.command("dashboard")
@click.option(
    "--processed", type=click.Path(path_type=Path), default=None,
    help="The processed zone written by 'etl' [default: <lake-dir>/processed].",
)  # fmt: skip
@click.option(
    "--database", default=None, help="A Glue database: query it on Athena instead (with --workgroup)."
)
@click.option(
    "--workgroup", default="primary", show_default=True, help="The Athena workgroup (with --database)."
)
@click.option("--region", default=None, help="The AWS region of the Athena workgroup.")
@click.option(
    "--port", default=8501, show_default=True, type=int, help="The port on 127.0.0.1 to serve it on."
)
def dashboard_command(
    processed: Path | None, database: str | None, workgroup: str, region: str | None, port: int
) -> None:
    """The pipeline's dashboard (Streamlit) over the queries of queries/, until Ctrl-C.

    On the local processed zone through DuckDB by default; on Athena with --database
    (and --workgroup), the same SQL. Needs the dashboard extra.

    \b
    Examples:
      netflix-producer dashboard                          # over ./lake/processed (make demo's)
      netflix-producer dashboard --database netflix-streams-aws --workgroup netflix-pipeline
    """
    import importlib.util

    if importlib.util.find_spec("streamlit") is None:
        msg = "the dashboard needs streamlit: pip install 'netflix-producer[dashboard]'"
        raise ConfigError(msg)
    env = dict(os.environ)
    if database:
        env["NETFLIX_PRODUCER_DASHBOARD_DATABASE"] = database
        env["NETFLIX_PRODUCER_DASHBOARD_WORKGROUP"] = workgroup
        env["NETFLIX_PRODUCER_DASHBOARD_REGION"] = region or ""
    else:
        processed = processed or _lake_defaults()[1]
        from producer.pipeline.query import LocalAthena

        LocalAthena(processed).connection.close()  # a missing or empty zone: one line now
        env["NETFLIX_PRODUCER_DASHBOARD_PROCESSED"] = str(processed.resolve())
    app = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
    click.echo(f"netflix-producer: dashboard on http://127.0.0.1:{port}/ (Ctrl-C to stop)", err=True)
    server = ["--server.headless=true", f"--server.port={port}", "--server.address=127.0.0.1"]
    args = [sys.executable, "-m", "streamlit", "run", str(app), *server, "--browser.gatherUsageStats=false"]
    # The server takes this process's place: Ctrl-C, SIGTERM and the PID are its own.
    sys.stderr.flush()
    os.execve(sys.executable, args, env)


@cli.command("pipeline")
@click.option(
    "--scenario",
    "scenario",
    default=None,
    metavar="NAME|PATH",
    shell_complete=_complete_scenario,
    help="A scenario file, or the name of a shipped one. [env: NETFLIX_PRODUCER_SCENARIO]",
)
@click.option("--count", default=None, help="Events to produce [default: the scenario's, else 20000].")
@click.option(
    "--lake-dir",
    "lake_dir",
    default=None,
    help="Root of the local lake [default: a fresh ./lake-pipeline/<scenario>/<time>/].",
)
@click.option(
    "--report", "report", default=None, type=click.Path(path_type=Path),
    help="Write one HTML page of it all here: the run, the data-quality report, the queries as charts.",
)  # fmt: skip
@_etl_options("null_event_ts", "max_quarantine_ratio")
def pipeline_command(
    scenario: str | None,
    count: str | None,
    lake_dir: str | None,
    report: Path | None,
    **options: Any,
) -> None:
    """The whole pipeline locally: produce into the lake, ETL, data-quality report, queries.

    Events are produced in simulated time (from the scenario's clock, else from
    today 00:00 UTC) into the lake, as Firehose would have written them; then the
    Glue job runs on a local Spark, then every query of queries/ runs on DuckDB.
    Each run has a lake of its own (./lake-pipeline/<scenario>/<time>/) unless
    --lake-dir or NETFLIX_PRODUCER_LAKE_DIR says where.

    \b
    Examples:
      netflix-producer pipeline --count 50000
      netflix-producer pipeline --scenario late-and-duplicates --lake-dir /tmp/lake
    """
    from datetime import UTC, datetime

    from producer.config.scenario import resolve_run
    from producer.pipeline.etl import default_quarantine_dir, raw_root
    from producer.pipeline.query import LocalAthena, default_dims_dir, named_queries, query_description

    scenario = scenario or os.environ.get("NETFLIX_PRODUCER_SCENARIO") or None
    etl_options = _etl_values(options)
    flags: dict[str, Any] = {"sink": "lake"}
    if lake_dir is not None:
        flags["lake_dir"] = lake_dir
    if count is not None:
        flags["count"] = count
    settings = resolve_run(flags, scenario=scenario)
    if settings.start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        flags["start"] = today.isoformat()
    if settings.count is None and settings.duration_s is None and settings.end is None:
        flags["count"] = "20000"
    shipped = {Path("./lake"), Path(f"./lake-{settings.scenario}")}
    if lake_dir is None and settings.lake_dir in shipped:
        # Not told where (flag, environment or a scenario of one's own): a lake of this
        # run's own, so that earlier runs' events (the README's other examples, the
        # scenario's own runs) never mix into it.
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        flags["lake_dir"] = str(Path("lake-pipeline") / (settings.scenario or "default") / stamp)
    if len(flags) > 1 + (lake_dir is not None) + (count is not None):
        settings = resolve_run(flags, scenario=scenario)

    if report is not None:
        from producer.report.html import check_report

        check_report(report)  # before the run, not after it
    console = Console()
    console.print(f"pipeline lake: [bold]{settings.lake_dir}[/]", highlight=False)
    console.rule("[bold]1. produce[/] into the lake (simulated time)")
    summary = _run(settings)
    if summary.error:
        raise ProducerError(summary.error)
    raw = raw_root(settings.lake_dir, settings.prefix)
    processed = settings.lake_dir / "processed"
    console.rule(f"[bold]2. ETL[/] {raw} -> {processed}")
    dq = _etl(
        raw,
        processed,
        quarantine=None,
        report_dir=None,
        **etl_options,
    )
    console.rule("[bold]3. queries[/] (Athena SQL on DuckDB)")
    results = []
    with LocalAthena(
        processed, quarantine=default_quarantine_dir(processed), dims=default_dims_dir(processed)
    ) as athena:
        for stem, path in named_queries().items():
            result = athena.run(path.read_text(encoding="utf-8"))
            console.print(f"\n[bold]{stem}[/]: {query_description(path)}", highlight=False)
            _print_query_result(result, "table")
            results.append((stem, query_description(path), result))
    if report is not None:
        from producer.pipeline.etl import summary_rows
        from producer.report.charts import dq_section, query_section
        from producer.report.html import write_report

        sections = [dq_section(dq, summary_rows(dq))]
        sections += [query_section(stem, text, r.columns, r.rows) for stem, text, r in results]
        title = f"netflix-producer pipeline: {settings.scenario or 'default'} ({settings.lake_dir})"
        write_report(summary.to_dict(), report, title=title, sections=sections)
        console.print(f"report: [bold]{report}[/]", highlight=False)
    console.print(f"pipeline lake: [bold]{settings.lake_dir}[/]", highlight=False)
    console.print(f"query again with: netflix-producer query NAME --processed {processed}", highlight=False)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    if os.environ.get("NETFLIX_PRODUCER_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
    cli.main(args=argv, prog_name="netflix-producer")
