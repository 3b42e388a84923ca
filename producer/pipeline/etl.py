"""The Glue job, run locally: the very script that deploys, on a local Spark.

:func:`run_etl` loads ``glue_scripts/netflix_raw_to_processed.py`` by path (so the
file Glue runs is the file tested and demoed), starts a local Spark session with the
settings Glue 5.0 would have where they matter (UTC, dynamic partition overwrite) and
small-machine ones elsewhere (``local[2]``, UI off, 2 shuffle partitions, loopback
only), and calls the script's ``run_job``. pyspark is imported here only, and only
when an ETL runs: ``netflix-producer run`` never pays for it.

The job's options are declared once, in the script (``OPTIONS``); :func:`job_options`
reads them (the script imports without pyspark) for the ``etl`` command's flags, and
:func:`parse_option` checks a flag's value by the same declaration.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys
import tempfile
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from producer.errors import ConfigError, DataQualityError, ProducerError
from producer.resources import glue_script

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "GLUE_SCRIPT",
    "JobOption",
    "default_quarantine_dir",
    "default_report_dir",
    "job_options",
    "load_glue_job",
    "load_glue_script",
    "local_spark",
    "parse_option",
    "raw_root",
    "run_etl",
    "summary_rows",
]

#: The Glue script: the repository's glue_scripts/ copy, or the one shipped in the wheel.
GLUE_SCRIPT: Path = glue_script()

_MODULE_NAME = "netflix_raw_to_processed"

# Errors only, on stderr: Spark's INFO/WARN start-up chatter is noise on a command
# line. (The Python gateway logger is the one Spark reads its shell level from.)
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


def raw_root(lake_dir: Path, prefix: str) -> Path:
    """The raw zone of a lake: the fixed folders of the Firehose ``prefix`` under ``lake_dir``.

    ``netflix/ingest_year=!{timestamp:yyyy}/...`` gives ``<lake_dir>/netflix``.
    """
    fixed = prefix.split("!{", 1)[0]
    folder = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
    return lake_dir / folder if folder else lake_dir


def default_quarantine_dir(processed: Path) -> Path:
    """Where quarantined rows go when not given: ``quarantine`` next to ``processed``."""
    return processed.parent / "quarantine"


def default_report_dir(processed: Path) -> Path:
    """Where data-quality reports go when not given: ``dq-reports`` next to ``processed``."""
    return processed.parent / "dq-reports"


#: The ETL's packages come with the ``pipeline`` extra, pinned to what Glue 5.0 runs.
_NEEDS_PYSPARK = (
    "the ETL needs pyspark 3.5.4 (Glue 5.0's Spark), part of the pipeline extra: "
    "pip install 'netflix-producer[pipeline]' (in a checkout: pip install -e '.[pipeline]')"
)


class JobOption(Protocol):
    """One of the job's options, as the script declares it (``JobOption`` there)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> type: ...
    @property
    def default(self) -> str | int | float | bool: ...
    @property
    def help(self) -> str: ...
    @property
    def minimum(self) -> float | None: ...
    @property
    def maximum(self) -> float | None: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def local(self) -> bool: ...
    @property
    def flag(self) -> str: ...
    @property
    def default_text(self) -> str: ...
    @property
    def expected(self) -> str: ...
    def parse(self, text: str) -> Any: ...
    def allows(self, value: Any) -> bool: ...


@cache
def load_glue_script(path: Path = GLUE_SCRIPT) -> ModuleType:
    """Import the Glue script by path: its options and rules need neither pyspark nor awsglue."""
    if not path.is_file():
        msg = f"the Glue script {path} is missing"
        raise ConfigError(msg)
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        msg = f"cannot load the Glue script {path}"
        raise ConfigError(msg)
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up while being built.
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_MODULE_NAME]
        raise
    return module


@cache
def load_glue_job(path: Path = GLUE_SCRIPT) -> ModuleType:
    """The Glue script, ready to run: as :func:`load_glue_script`, once pyspark is there."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        msg = _NEEDS_PYSPARK
        raise ConfigError(msg) from exc
    return load_glue_script(path)


def job_options(*, local: bool = False) -> tuple[JobOption, ...]:
    """The job's optional arguments, in order; with ``local``, those the ``etl`` command takes."""
    options: tuple[JobOption, ...] = load_glue_script().OPTIONS
    return tuple(o for o in options if o.local or not local)


def parse_option(name: str, text: str) -> Any:
    """The value of the job option ``name`` given as ``text`` on the command line.

    Raises :class:`ConfigError` naming the flag and the value:
    ``invalid --max-quarantine-ratio '2': expected within [0, 1]``.
    """
    option = next(o for o in job_options() if o.name == name)
    try:
        value = option.parse(text)
    except ValueError:
        value = None
    if value is None or not option.allows(value):
        msg = f"invalid {option.flag} {text!r}: expected {option.expected}"
        raise ConfigError(msg)
    return value


def local_spark(*, java_options: str = "", app_name: str = "netflix-producer-etl") -> SparkSession:
    """A local Spark session for the job: ``local[2]``, UTC, UI off, loopback only.

    ``java_options`` are added to the driver JVM's (tests pass
    ``-XX:TieredStopAtLevel=1``, which starts faster; never use it for real runs).
    If a session is already running in this process, that one is returned.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        msg = _NEEDS_PYSPARK
        raise ConfigError(msg) from exc
    # Python workers (if any) run this interpreter, not whatever python3 is on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log_config = _log_config().as_uri()
    options = f"-Duser.timezone=UTC -Dlog4j2.configurationFile={log_config} {java_options}".strip()
    builder = (
        SparkSession.builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.extraJavaOptions", options)
    )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        msg = f"Spark could not start (it needs Java 17 on PATH or JAVA_HOME): {_first_line(exc)}"
        raise ProducerError(msg) from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def run_etl(
    raw: Path,
    processed: Path,
    *,
    quarantine: Path | None = None,
    report_dir: Path | None = None,
    spark: SparkSession | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run the Glue job's transforms over a local raw zone; return its data-quality report.

    ``options`` are the job's (:func:`job_options`: ``null_event_ts``,
    ``max_quarantine_ratio``...), each with the script's default when not given;
    CloudWatch metrics are never published. ``raw`` is read whole (plain or GZIP
    objects, any depth), unless ``incremental``. ``quarantine`` and ``report_dir``
    default to ``quarantine`` and ``dq-reports`` next to ``processed``. A session
    passed as ``spark`` is used and left running; otherwise one is started and
    stopped. Raises :class:`DataQualityError` (carrying the report) when a rule fails;
    the processed table is then left unchanged.
    """
    if not raw.is_dir():
        msg = f"--raw '{raw}' does not exist or is not a directory"
        raise ConfigError(msg)
    quarantine = quarantine or default_quarantine_dir(processed)
    report_dir = report_dir or default_report_dir(processed)
    job = load_glue_job()
    try:
        job_run = job.JobOptions(
            raw_path=str(raw.resolve()),
            processed_path=str(processed.resolve()),
            quarantine_path=str(quarantine.resolve()),
            report_path=str(report_dir.resolve()),
            **options,
            metrics_namespace="",
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    session = spark if spark is not None else local_spark()
    try:
        report: dict[str, Any] = job.run_job(session, job_run)
    except ProducerError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("pyspark", "py4j")):
            msg = f"the ETL failed in Spark: {_first_line(exc)}"
            raise ProducerError(msg) from exc
        raise
    finally:
        if spark is None:
            session.stop()
    if not report["passed"]:
        raise DataQualityError(job.failure_message(report), report=report)
    return report


def summary_rows(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The report as (label, value) lines for a terminal summary."""
    rows = [
        ("rows read", f"{report['rows_read']:,}  ({report['files_read']:,} objects)"),
        ("rows written", f"{report['rows_written']:,}"),
        ("rows quarantined", f"{report['rows_quarantined']:,}  ({report['quarantine_ratio']:.2%})"),
    ]
    rows += [(f"  {reason}", f"{count:,}") for reason, count in report["quarantined_by_reason"].items()]
    dups = report["duplicates"]
    rows.append(
        (
            "duplicates removed",
            f"{report['duplicates_removed']:,}  ({dups['within_input']:,} within the input, "
            f"{dups['already_in_output']:,} already in the table)",
        )
    )
    drift = report["schema_drift"]
    rows.append(
        (
            "schema drift recovered",
            f"content_id as title_id {drift['content_id_as_title_id']:,}, "
            f"ISO event_ts {drift['event_ts_as_iso_string']:,}",
        )
    )
    if report["event_type_domain_violations"]:
        values = ", ".join(
            f"{k!r} {v:,}" for k, v in list(report["event_type_domain_violations"].items())[:5]
        )
        rows.append(("unknown event types", values))
    nulls = {k: v for k, v in report["null_rates"].items() if v}
    if nulls:
        rows.append(("null rates", ", ".join(f"{k} {v:.2%}" for k, v in nulls.items())))
    for day, count in report["rows_per_date"].items():
        rows.append((f"event_date {day}", f"{count:,}"))
    for anomaly in report["volume_anomalies"]:
        rows.append(
            (
                "volume anomaly",
                f"{anomaly['date']}: {anomaly['rows']:,} rows vs baseline {anomaly['baseline']:,.0f} "
                f"(x{anomaly['ratio']:.2f})",
            )
        )
    for rule in report["rules"]:
        rows.append((f"rule {rule['rule']}", "pass" if rule["passed"] else f"FAIL ({rule['value']})"))
    rows.append(("report", str(report.get("report_location", "-"))))
    return rows


@cache
def _log_config() -> Path:
    """The log4j2 configuration the driver JVM reads at start (one file per process)."""
    fd, name = tempfile.mkstemp(prefix="netflix-producer-log4j2-", suffix=".properties")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(_LOG4J2)
    atexit.register(Path(name).unlink, missing_ok=True)
    return Path(name)


def _first_line(exc: BaseException) -> str:
    java = getattr(exc, "java_exception", None)
    text = str(java) if java is not None else str(exc)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
