"""One self-contained HTML page of a run: a verdict, its charts, its summary.

The page needs no network: Vega, Vega-Lite and Vega-Embed are inlined in one module
script, built by ``vl-convert-python`` (the ``report`` extra), which bundles them with
no JavaScript toolchain installed. The bundle does not depend on the run, so it is
built once per version and kept under ``$XDG_CACHE_HOME/netflix-producer``. Each
chart's data is in the page as JSON; once drawn, each chart's element gets
``data-rendered`` and ``data-points`` (the rows it drew), and the body
``data-rendered`` (or ``data-error``), which is what the browser test waits for.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
from pathlib import Path
from typing import Any

from producer.errors import ConfigError
from producer.report.charts import Chart, Section, charts

__all__ = ["check_report", "read_summary", "render_report", "write_report"]

#: Draws every chart of the page's ``report-charts`` JSON into its element (SVG).
_SNIPPET = """
const specs = JSON.parse(document.getElementById("report-charts").textContent);
const drawn = Object.entries(specs).map(([id, spec]) =>
  vegaEmbed("#" + id, spec, {renderer: "svg", actions: false, mode: "vega-lite"}).then((result) => {
    const el = document.getElementById(id);
    el.dataset.points = String(result.view.data("rows").length);
    el.dataset.rendered = "true";
  }));
Promise.all(drawn).then(
  () => { document.body.dataset.rendered = "true"; },
  (err) => { document.body.dataset.error = String(err); console.error(err); });
"""


#: Counts what the page logs as a warning or an error (and uncaught errors) on the
#: root element's ``data-console-errors``, still logging it: a test reads it.
_CONSOLE = """
(() => {
  const root = document.documentElement; root.dataset.consoleErrors = "0";
  const seen = (args) => {
    root.dataset.consoleErrors = String(Number(root.dataset.consoleErrors) + 1);
    root.dataset.consoleLast = args.map(String).join(" ").slice(0, 500);
  };
  for (const level of ["error", "warn"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => { seen(args); original(...args); };
  }
  window.addEventListener("error", (e) => seen([e.message]));
  window.addEventListener("unhandledrejection", (e) => seen([e.reason]));
})();
"""


def check_report(path: Path) -> None:
    """Fail now, in one line, if a report could not be drawn or written to ``path`` later
    (its directory is made when the report is written, as the summary's is)."""
    _bundle()
    parent = next((p for p in (path.parent, *path.parent.parents) if p.exists()), None)
    if path.is_dir() or (parent is not None and (not parent.is_dir() or not os.access(parent, os.W_OK))):
        why = "it is a directory" if path.is_dir() else f"{parent} is not a writable directory"
        msg = f"cannot write the report {path}: {why}"
        raise ConfigError(msg)


def read_summary(path: Path) -> dict[str, Any]:
    """A summary written by ``--summary-json``, or a one-line error naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a summary (not JSON: {exc})"
        raise ConfigError(msg) from None
    if not isinstance(data, dict) or "generated" not in data or "event_types" not in data:
        msg = f"{path}: not a summary (no generated or event_types field; write one with --summary-json)"
        raise ConfigError(msg)
    return data


def _bundle() -> str:
    """The inlined Vega libraries with the drawing snippet, built once and cached."""
    try:
        import vl_convert
    except ImportError:
        msg = "reports need vl-convert-python: pip install 'netflix-producer[report]'"
        raise ConfigError(msg) from None
    version = getattr(vl_convert, "__version__", "0")
    key = hashlib.sha256(f"{version}\n{_SNIPPET}".encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "netflix-producer"
    path = cache / f"vega-bundle-{key}.js"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        pass
    bundle: str = vl_convert.javascript_bundle(_SNIPPET)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(bundle, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only costs the next report a rebuild
    return bundle


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "-"
    return "-" if value is None or value == "" else str(value)


def _bound_seconds(timeline: dict[str, Any], flag: str) -> float:
    cols = timeline.get("rows") or {}
    t, flags = cols.get("t_s") or [], cols.get(flag) or []
    return float(sum(b - a for a, b, f in zip([0.0, *t[:-1]], t, flags, strict=False) if f))


def _behind(summary: dict[str, Any]) -> str | None:
    """How the run fell behind what was asked (more than 5 %), or None if it did not."""
    timeline = summary.get("timeline") or {}
    bins = timeline.get("event_time")
    if bins and bins.get("planned"):  # simulated: the events of each minute against the shape's
        asked, got = float(sum(bins["planned"])), float(sum(bins["events"]))
        return (
            f"{got / asked:.0%} of the events the shape plans" if asked > 0 and got < 0.95 * asked else None
        )
    if summary.get("clock") != "realtime":
        return None
    planned, took = timeline.get("planned_end_s"), float(summary.get("elapsed_s", 0.0))
    if planned is not None:  # a count or a duration: the run should end when its last event is due
        late = took > 1.05 * planned + 1.0
        return f"took {took:,.1f} s for what was planned in {planned:,.1f} s" if late else None
    cols = timeline.get("rows") or {}
    t, rate = cols.get("t_s") or [], cols.get("target_rate") or []
    asked = sum((b - a) * r for a, b, r in zip([0.0, *t[:-1]], t, rate, strict=False))
    got = float(sum(cols.get("generated") or []))
    return f"{got / asked:.0%} of the events asked for" if asked > 0 and got < 0.95 * asked else None


def verdict(summary: dict[str, Any]) -> tuple[str, str]:
    """("ok" | "warn" | "fail", one sentence): did the run do what was asked?"""
    generated, accepted = summary.get("generated", 0), summary.get("accepted", summary.get("delivered", 0))
    dead, failed = summary.get("dead_lettered", 0), summary.get("failed", 0)
    if summary.get("error"):
        return "fail", f"The run stopped: {summary['error']}"
    lost = f"; {dead:,} dead-lettered, {failed:,} failed" if dead or failed else ""
    told = f"{accepted:,} of {generated:,} events accepted{lost}"
    behind = _behind(summary)
    if behind is not None:
        timeline = summary.get("timeline") or {}
        why = [
            f"{what} for {_bound_seconds(timeline, flag):,.0f} s"
            for what, flag in (("quota-bound", "quota_bound"), ("sink-bound", "sink_bound"))
            if _bound_seconds(timeline, flag) > 0
        ]
        because = f" ({', '.join(why)})" if why else ""
        return "warn", f"Behind the rate asked: {behind}{because}; {told}."
    if dead or failed:
        return "warn", f"{told}."
    rate = f"{summary.get('achieved_rate', 0.0):,.1f}/s"
    return (
        "ok",
        f"Did what was asked: every one of {generated:,} events accepted, at {rate}; "
        f"stopped by {summary.get('stopped_by', '-')}.",
    )


_SUMMARY_FIELDS = (
    "sink", "destination", "clock", "start", "end", "seed", "stopped_by", "elapsed_s", "target_rate",
    "achieved_rate", "generated", "accepted", "dead_lettered", "failed", "records", "batches", "calls",
    "retried", "throttled", "bytes", "billed_bytes", "latency_ms", "event_lag_ms", "activity", "send_rate",
    "faults", "dead_letter_path",
)  # fmt: skip

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 900px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 28px 0 2px; }
.verdict { padding: 10px 14px; border-radius: 6px; margin: 12px 0; font-size: 15px; }
.ok { background: #e6f4ea; } .warn { background: #fff4e0; } .fail { background: #fde7e7; }
.caption { color: #555; margin: 0 0 6px; } table { border-collapse: collapse; }
td { padding: 2px 12px 2px 0; vertical-align: top; } td:first-child { color: #555; }
.figures { display: flex; gap: 28px; margin: 8px 0; } .figures div { font-size: 22px; }
.figures span { display: block; font-size: 12px; color: #555; }
table.result { margin-top: 8px; font-size: 13px; } table.result th { text-align: left; padding-right: 12px; }
"""


def _table(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    ids = [c.endswith("_id") for c in columns]  # ids without thousands separators

    def cell(v: Any, is_id: bool) -> str:
        return html.escape(str(v) if is_id and v is not None else _fmt(v))

    body = "".join(
        "<tr>" + "".join(f"<td>{cell(v, i)}</td>" for v, i in zip(row, ids, strict=False)) + "</tr>"
        for row in rows
    )
    return f'<table class="result"><tr>{head}</tr>{body}</table>'


def render_report(
    summary: dict[str, Any], *, title: str | None = None, sections: list[Section] | None = None
) -> str:
    """The whole page for a run's summary (as written by ``--summary-json``), with
    ``sections`` (a pipeline's data-quality report and query results) after the run's charts."""
    drawn: list[Chart] = charts(summary)
    sections = sections or []
    kind, sentence = verdict(summary)
    heading = (
        title or f"netflix-producer run: {summary.get('sink', '?')} sink, {summary.get('clock', '?')} clock"
    )
    figures = [
        ("generated", summary.get("generated", 0)),
        ("accepted", summary.get("accepted", summary.get("delivered", 0))),
        ("dead-lettered", summary.get("dead_lettered", 0)),
        ("achieved /s", summary.get("achieved_rate", 0.0)),
        ("target /s", summary.get("target_rate", 0.0)),
    ]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(heading)}</title>",
        f"<style>{_STYLE}</style>",
        f"<script>{_CONSOLE}</script></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="caption">{html.escape(_fmt(summary.get("start")))} to '
        f"{html.escape(_fmt(summary.get('end')))}</p>",
        f'<p class="verdict {kind}" id="verdict">{html.escape(sentence)}</p>',
        '<div class="figures">',
        *(f"<div>{html.escape(_fmt(v))}<span>{html.escape(k)}</span></div>" for k, v in figures),
        "</div>",
    ]
    for chart in drawn:
        parts += [
            f"<h2>{html.escape(chart.title)}</h2>",
            f'<p class="caption">{html.escape(chart.caption)}</p>',
            f'<div class="chart" id="{chart.id}" data-expected-points="{chart.points}"></div>',
        ]
    for section in sections:
        parts += [
            f"<h2>{html.escape(section.title)}</h2>",
            f'<p class="caption">{html.escape(section.caption)}</p>',
        ]
        if section.chart is not None:
            points = section.chart.points
            parts.append(f'<div class="chart" id="{section.chart.id}" data-expected-points="{points}"></div>')
        if section.columns:
            parts.append(_table(section.columns, section.rows))
    drawn += [s.chart for s in sections if s.chart is not None]
    parts.append('<h2>Summary</h2><table id="summary">')
    for name in _SUMMARY_FIELDS:
        if name in summary:
            parts.append(f"<tr><td>{name}</td><td>{html.escape(_fmt(summary[name]))}</td></tr>")
    parts.append("</table>")
    specs = json.dumps({c.id: c.spec for c in drawn}, separators=(",", ":"), allow_nan=False)
    safe = specs.replace("</", "<\\/")  # in a script element only "</" could end it early
    parts.append(f'<script type="application/json" id="report-charts">{safe}</script>')
    parts.append(f'<script type="module">{_bundle()}</script>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(
    summary: dict[str, Any], path: Path, *, title: str | None = None, sections: list[Section] | None = None
) -> None:
    """Write the page to ``path`` whole (a temporary file renamed), never half-written."""
    page = render_report(summary, title=title, sections=sections)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        msg = f"cannot write the report {path}: {exc.strerror or exc}"
        raise ConfigError(msg) from None
