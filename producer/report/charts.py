"""The report's charts, as Vega-Lite specifications built from a run's summary.

Each chart is a plain dict (Vega-Lite v5 JSON) over one named dataset, ``rows``, so a
browser (or a test) can count the points it drew. Nothing here needs a browser or
a JavaScript runtime; :mod:`producer.report.html` embeds the specs in a page.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_BARS", "Chart", "Section", "chart_axes", "charts", "dq_section", "plain", "query_section"]

_WIDTH = 820
_HEIGHT = 220


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the report: its element id, title, one-line caption and spec."""

    id: str
    title: str
    caption: str
    spec: dict[str, Any]

    @property
    def points(self) -> int:
        """How many data rows the chart draws."""
        return len(self.spec["data"]["values"])


def _spec(rows: list[dict[str, Any]], layers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "width": _WIDTH,
        "height": _HEIGHT,
        "data": {"name": "rows", "values": rows},
        "layer": layers,
        **extra,
    }


def _rows(timeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The timeline's columns as rows, with per-second rates and the row's start."""
    cols: dict[str, list[Any]] = timeline.get("rows") or {}
    n = len(cols.get("t_s", []))
    out: list[dict[str, Any]] = []
    before = 0.0
    for i in range(n):
        row = {name: values[i] for name, values in cols.items()}
        span = max(row["t_s"] - before, 1e-9)
        row["t0_s"] = before
        for name in ("generated", "accepted", "throttled", "retried", "dead_lettered", "failed"):
            row[f"{name}_per_s"] = round(row[name] / span, 3)
        before = row["t_s"]
        out.append(row)
    return out


def _bound_layer(field: str, colour: str) -> dict[str, Any]:
    """Shade the rows where ``field`` is 1 (quota-bound, sink-bound)."""
    return {
        "transform": [{"filter": f"datum.{field} == 1"}],
        "mark": {"type": "rect", "color": colour, "opacity": 0.18},
        "encoding": {"x": {"field": "t0_s", "type": "quantitative"}, "x2": {"field": "t_s"}},
    }


def _rate_chart(rows: list[dict[str, Any]], summary: dict[str, Any]) -> Chart:
    x = {"field": "t_s", "type": "quantitative", "title": "seconds since start"}
    folded = {"fold": ["target_rate", "generated_per_s", "accepted_per_s"], "as": ["series", "per_s"]}
    line = {
        "transform": [folded],
        "mark": {"type": "line", "interpolate": "step-before", "point": False},
        "encoding": {
            "x": x,
            "y": {"field": "per_s", "type": "quantitative", "title": "events per second"},
            "color": {
                "field": "series",
                "type": "nominal",
                "title": None,
                "scale": {
                    "domain": ["target_rate", "generated_per_s", "accepted_per_s"],
                    "range": ["#888888", "#1f77b4", "#2ca02c"],
                },
                "legend": {"labelExpr": "{'target_rate': 'target', 'generated_per_s': 'generated', "
                           "'accepted_per_s': 'accepted'}[datum.label]", "orient": "top"},
            },
            "tooltip": [{"field": "t_s", "title": "s"}, {"field": "series"},
                        {"field": "per_s", "title": "/s"}],
        },
    }  # fmt: skip
    caption = "Target and achieved rate, per row of the timeline"
    if summary.get("clock") == "simulated":
        caption += (
            " (a simulated clock: the target is per second of event time, the rest per second of wall time)"
        )
    caption += "; shaded: quota-bound (orange) and sink-bound (red) periods."
    # Shading only where there is some: an empty layer would make Vega warn.
    layers: list[dict[str, Any]] = [
        _bound_layer(field, colour)
        for field, colour in (("quota_bound", "#ff7f0e"), ("sink_bound", "#d62728"))
        if any(row.get(field) for row in rows)
    ]
    layers.append(line)
    return Chart("chart-rate", "Rate over time", caption, _spec(rows, layers))


def _latency_chart(rows: list[dict[str, Any]]) -> Chart | None:
    if not any(row.get("latency_p50_ms") is not None for row in rows):
        return None  # no calls (a local sink)
    line = {
        "transform": [{"fold": ["latency_p50_ms", "latency_p99_ms"], "as": ["percentile", "ms"]},
                      {"filter": "datum.ms != null"}],
        "mark": {"type": "line", "point": {"size": 12}},
        "encoding": {
            "x": {"field": "t_s", "type": "quantitative", "title": "seconds since start"},
            "y": {"field": "ms", "type": "quantitative", "title": "call latency, ms",
                  "scale": {"type": "symlog"}},
            "color": {"field": "percentile", "type": "nominal", "title": None,
                      "legend": {"orient": "top", "labelExpr": "slice(datum.label, 8, 11)"}},
            "tooltip": [{"field": "t_s", "title": "s"}, {"field": "percentile"}, {"field": "ms"}],
        },
    }  # fmt: skip
    caption = "Latency of the calls answered in each row (p50, p99); no calls, no point."
    return Chart("chart-latency", "Call latency", caption, _spec(rows, [line]))


def _trouble_chart(rows: list[dict[str, Any]]) -> Chart:
    bars = {
        "transform": [{"fold": ["throttled_per_s", "retried_per_s", "dead_lettered_per_s"],
                       "as": ["what", "per_s"]}],
        "mark": {"type": "line", "interpolate": "step-before"},
        "encoding": {
            "x": {"field": "t_s", "type": "quantitative", "title": "seconds since start"},
            "y": {"field": "per_s", "type": "quantitative", "title": "records per second"},
            "color": {"field": "what", "type": "nominal", "title": None,
                      "legend": {"orient": "top",
                                 "labelExpr": "replace(replace(datum.label, '_per_s', ''), '_', '-')"},
                      "scale": {"domain": ["throttled_per_s", "retried_per_s", "dead_lettered_per_s"],
                                "range": ["#ff7f0e", "#9467bd", "#d62728"]}},
            "tooltip": [{"field": "t_s", "title": "s"}, {"field": "what"}, {"field": "per_s", "title": "/s"}],
        },
    }  # fmt: skip
    caption = "Records throttled, resent and dead-lettered per second."
    return Chart("chart-trouble", "Throttled, retried, dead-lettered", caption, _spec(rows, [bars]))


def _mix_chart(summary: dict[str, Any]) -> Chart:
    types = summary.get("event_types") or {}
    total = max(sum(types.values()), 1)
    rows = [{"event_type": k, "events": v, "share": round(v / total, 4)} for k, v in types.items()]
    bar = {
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "event_type", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "events", "type": "quantitative", "title": "events"},
            "tooltip": [{"field": "event_type"}, {"field": "events"}, {"field": "share", "format": ".1%"}],
        },
    }
    spec = _spec(rows, [bar])
    spec["height"] = 24 * max(len(rows), 1)
    return Chart("chart-mix", "Event types", "Events generated, by type.", spec)


def _event_time_chart(summary: dict[str, Any]) -> Chart | None:
    bins = (summary.get("timeline") or {}).get("event_time")
    if not bins or not bins.get("events"):
        return None
    origin, step = float(bins["origin"]), float(bins["step_s"])
    planned = bins.get("planned") or [None] * len(bins["events"])
    rows = [
        {"t": (origin + i * step) * 1000.0, "events": n, "planned": p}
        for i, (n, p) in enumerate(zip(bins["events"], planned, strict=True))
    ]
    unit = f"{step / 60:g} min" if step >= 60 else f"{step:g} s"
    x = {
        "field": "t",
        "type": "temporal",
        "title": "event time (UTC)",
        "timeUnit": None,
        "scale": {"type": "utc"},
    }
    layers: list[dict[str, Any]] = [
        {"mark": {"type": "bar", "color": "#1f77b4", "opacity": 0.7},
         "encoding": {"x": x, "y": {"field": "events", "type": "quantitative", "title": f"events per {unit}"},
                      "tooltip": [{"field": "t", "type": "temporal", "format": "%Y-%m-%d %H:%M",
                                   "scale": {"type": "utc"}},
                                  {"field": "events"}, {"field": "planned"}]}},
        {"mark": {"type": "line", "color": "#333333", "strokeDash": [4, 3]},
         "encoding": {"x": x, "y": {"field": "planned", "type": "quantitative"}}},
    ]  # fmt: skip
    caption = f"Events per {unit} of event time (bars) against the planned shape (dashed)."
    return Chart("chart-event-time", "Events over event time", caption, _spec(rows, layers))


def charts(summary: dict[str, Any]) -> list[Chart]:
    """The report's charts for a run's summary (with its ``timeline``), in page order."""
    rows = _rows(summary.get("timeline") or {})
    out = [_rate_chart(rows, summary)]
    event_time = _event_time_chart(summary)
    if event_time is not None:
        out.append(event_time)
    latency = _latency_chart(rows)
    if latency is not None:
        out.append(latency)
    out += [_trouble_chart(rows), _mix_chart(summary)]
    return out


@dataclass(frozen=True, slots=True)
class Section:
    """A part of a page below the run's charts: a title, a caption, a chart and/or a table."""

    title: str
    caption: str
    chart: Chart | None = None
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)


def plain(value: Any) -> Any:
    """A query's value as JSON: numbers stay numbers, dates become ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def _is_key(column: str) -> bool:
    return (
        column.endswith("_id") or column.startswith(("hour", "date")) or column.endswith(("_hour", "_date"))
    )


#: A query result becomes a bar chart when it has at most this many rows.
MAX_BARS = 60


def query_section(
    name: str, description: str, columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]
) -> Section:
    """A query's result as a section: a bar chart of its first numeric column by its first
    other column (when it has both and at most 60 rows), and the result's first rows."""
    cells = [tuple(plain(v) for v in row) for row in rows]
    chart = None
    axes = chart_axes(columns, rows)
    if axes is not None and 0 < len(rows) <= MAX_BARS:
        label, value = columns[axes[0]], columns[axes[1]]
        values = [{label: r[axes[0]], value: r[axes[1]]} for r in cells]
        bar = {
            "mark": {"type": "bar"},
            "encoding": {
                "y": {"field": label, "type": "nominal", "sort": None, "title": label},
                "x": {"field": value, "type": "quantitative", "title": value},
                "tooltip": [{"field": label}, {"field": value}],
            },
        }
        spec = _spec(values, [bar])
        spec["height"] = max(16 * len(values), 40)
        chart = Chart(f"chart-query-{name}", name, description, spec)
    return Section(name, description, chart, tuple(columns), cells[:20])


def chart_axes(columns: tuple[str, ...], rows: tuple[tuple[Any, ...], ...]) -> tuple[int, int] | None:
    """The (label, measure) columns to chart a query's result by, or None: its first label
    (a text column, else an id, an hour or a date) and its first other number."""
    numeric = [
        i for i, c in enumerate(columns) if rows and all(_is_number(r[i]) or r[i] is None for r in rows)
    ]
    labels = [i for i in range(len(columns)) if i not in numeric]
    if not labels and len(numeric) >= 2 and _is_key(columns[numeric[0]]):
        labels, numeric = [numeric[0]], numeric[1:]  # an id or an hour: a label, not a measure
    elif labels and any(not _is_key(columns[i]) for i in numeric):
        numeric = [
            i for i in numeric if not _is_key(columns[i])
        ]  # a name beside its id: the id is no measure
    return (labels[0], numeric[0]) if numeric and labels else None


def dq_section(report: dict[str, Any], lines: list[tuple[str, str]]) -> Section:
    """The ETL's data-quality report: rows quarantined by reason (a chart when any were), and its lines."""
    reasons = report.get("quarantined_by_reason") or {}
    chart = None
    if reasons:
        values = [{"reason": k, "rows": v} for k, v in reasons.items()]
        bar = {
            "mark": {"type": "bar", "color": "#d62728"},
            "encoding": {
                "y": {"field": "reason", "type": "nominal", "sort": "-x", "title": None},
                "x": {"field": "rows", "type": "quantitative", "title": "rows quarantined"},
                "tooltip": [{"field": "reason"}, {"field": "rows"}],
            },
        }
        spec = _spec(values, [bar])
        spec["height"] = max(22 * len(values), 40)
        chart = Chart("chart-dq", "Quarantined rows", "Rows quarantined by the ETL, by reason.", spec)
    verdict = "passed" if report.get("passed") else "FAILED"
    return Section(
        f"Data quality: {verdict}", "The Glue job's data-quality report.", chart, ("check", "value"), lines
    )
