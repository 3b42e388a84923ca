"""AWS Glue 5.0 job ``netflix-raw-to-processed``: raw Firehose NDJSON -> processed Parquet.

This one file is both the script Glue runs and a plain PySpark module. ``main()`` is
the thin Glue entry and the only code that imports ``awsglue``; everything else takes
a SparkSession or DataFrames, so ``netflix-producer etl`` and the tests run exactly
the code that deploys (they load this file by path).

What a run does (see docs/pipeline.md):

1. reads every object under ``--raw_path`` (plain or ``.gz``, any depth; names
   starting with ``.`` or ``_`` are skipped) as lines, one record each;
2. parses each line against an explicit all-string schema with a corrupt-record
   column, tolerating drift (``content_id`` for ``title_id``, ``event_ts`` as epoch
   seconds or an ISO-8601 string, extra or missing fields);
3. sends every line that fails a rule to ``--quarantine_path`` with a ``reason``;
4. removes duplicate ``event_id`` values (rows already in the processed table win,
   then the earliest ``event_ts``, then the raw line, so the choice is deterministic);
5. writes Snappy Parquet partitioned by ``event_date`` with dynamic partition
   overwrite, merging the rows already in each partition it touches: re-runs are
   idempotent and incremental runs never lose earlier rows;
6. writes a data-quality report (JSON) to ``--report_path``, publishes its counts as
   CloudWatch metrics (in Glue), and fails the run when a configured rule fails.

Accounting, checked on every run: rows read = rows written + rows quarantined +
duplicates removed.
"""

from __future__ import annotations

import importlib
import json
import logging
import statistics
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, make_dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

logger = logging.getLogger(__name__)


class _OnFirstUse:
    """A module imported when one of its names is first used.

    The options, the data-quality rules and the reports need no Spark, so the script
    imports (and its pure parts are tested) without pyspark; the transforms use these.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attr)


if not TYPE_CHECKING:
    F = _OnFirstUse("pyspark.sql.functions")
    T = _OnFirstUse("pyspark.sql.types")

JOB_NAME = "netflix-raw-to-processed"

#: The processed table, in order, with its Athena/Spark types. Glue cannot import the
#: ``producer`` package, so the list lives here; a test keeps it equal to
#: ``producer.generation.schema.PROCESSED_FIELDS``.
PROCESSED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "string"),
    ("session_id", "string"),
    ("user_id", "bigint"),
    ("profile_id", "int"),
    ("title_id", "bigint"),
    ("event_type", "string"),
    ("event_ts", "double"),
    ("position_ms", "bigint"),
    ("device_type", "string"),
    ("country", "string"),
    ("app_version", "string"),
    ("bitrate_kbps", "int"),
    ("seq", "int"),
    ("event_timestamp", "timestamp"),
    ("event_date", "date"),
)
PROCESSED_NAMES: tuple[str, ...] = tuple(name for name, _ in PROCESSED_COLUMNS)
#: The raw fields: the processed columns before the two derived ones.
RAW_COLUMNS: tuple[tuple[str, str], ...] = PROCESSED_COLUMNS[:-2]
#: Drifted field names and the field they stand for.
DRIFT_RENAMES: Mapping[str, str] = {"content_id": "title_id"}
EVENT_TYPES: tuple[str, ...] = (
    "PLAY_START", "PAUSE", "RESUME", "SEEK", "BUFFER_START", "BUFFER_END", "PLAY_STOP",
)  # fmt: skip
#: Fields a row cannot be used without.
REQUIRED_FIELDS: tuple[str, ...] = ("event_id", "user_id", "title_id", "event_type")
#: Plausible event_ts (epoch seconds): 2000-01-01 to 2100-01-01. Outside it is almost
#: always a unit mistake (milliseconds), quarantined rather than guessed at.
EVENT_TS_MIN = 946_684_800.0
EVENT_TS_MAX = 4_102_444_800.0
#: Every quarantine reason, in the order the rules are checked (a row gets the first).
QUARANTINE_REASONS: tuple[str, ...] = (
    "empty_record",
    "malformed_json",
    "missing_event_id",
    "missing_user_id",
    "invalid_user_id",
    "missing_title_id",
    "invalid_title_id",
    "missing_event_type",
    "unknown_event_type",
    "null_event_ts",
    "invalid_event_ts",
    "invalid_profile_id",
    "invalid_position_ms",
    "invalid_bitrate_kbps",
    "invalid_seq",
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("reason", "string"),
    ("raw_record", "string"),
    ("source_file", "string"),
    ("event_id", "string"),
    ("event_ts_raw", "string"),
    ("run_id", "string"),
    ("quarantined_at", "timestamp"),
    ("ingest_date", "date"),
)
HIVE_DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
REPORT_PREFIX = "dq-report-"
MAX_RECORDS_PER_FILE = 5_000_000
#: Firehose object names end in -YYYY-MM-dd-HH-mm-ss-<uuid>[.gz]: the arrival time.
_FIREHOSE_NAME_DATE = (
    r"-(\d{4}-\d{2}-\d{2})-\d{2}-\d{2}-\d{2}-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?:\.gz)?$"
)
_INTEGER = r"^\s*-?[0-9]+\s*$"
#: Earlier dates a date needs (each with at least ``volume_min_rows``) to have a baseline.
MIN_BASELINE_DATES = 3


class DataQualityFailure(Exception):
    """A configured data-quality rule failed; the message is one line."""


# -- options ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOption:
    """One optional job argument, declared once: Glue's ``--<name>``, the local ``etl``
    command's ``--<name-with-hyphens>`` (when ``local``) and a :class:`JobOptions` field.

    ``minimum``/``maximum`` bound a number; with ``zero_off``, 0 (off) is allowed too.
    ``choices`` are the only values of a string; ``none_word`` (or an empty value)
    stands for the empty string. ``argument_default`` is the Glue argument's default
    when it is not ``default`` as text.
    """

    name: str
    kind: type
    default: str | int | float | bool
    help: str
    minimum: float | None = None
    maximum: float | None = None
    zero_off: bool = False
    choices: tuple[str, ...] = ()
    none_word: str = ""
    local: bool = True
    argument_default: str | None = None

    @property
    def flag(self) -> str:
        """The local command's flag: ``--max-quarantine-ratio``."""
        return "--" + self.name.replace("_", "-")

    @property
    def default_text(self) -> str:
        """The Glue argument's default: ``0.05``, ``3``, ``false``."""
        if self.argument_default is not None:
            return self.argument_default
        return _argument_text(self.default)

    @property
    def expected(self) -> str:
        """What a value must be: ``within [0, 1]``, ``quarantine or default_partition``."""
        if self.choices:
            return " or ".join(self.choices)
        if self.kind is bool:
            return "true or false"
        low, high = self.minimum, self.maximum
        if self.zero_off and low is not None:
            return f"0 (off) or >= {_argument_text(low)}"
        if low is not None and high is not None:
            return f"within [{_argument_text(low)}, {_argument_text(high)}]"
        if low is not None:
            return f"{_KIND_WORDS[self.kind]} >= {_argument_text(low)}"
        return _KIND_WORDS[self.kind]

    def parse(self, text: str) -> str | int | float | bool:
        """The value of ``text``; ``ValueError`` when it is not one (see :meth:`problem`)."""
        if self.kind is bool:
            word = text.strip().lower()
            if word in ("true", "1", "yes"):
                return True
            if word in ("false", "0", "no"):
                return False
            raise ValueError(self.expected)
        if self.kind is str:
            return "" if self.none_word and text.lower() in ("", self.none_word) else text
        try:
            value: int | float = self.kind(text)
        except ValueError:
            raise ValueError(self.expected) from None
        return value

    def allows(self, value: Any) -> bool:
        """Whether ``value`` is one this option takes (else: not :attr:`expected`)."""
        if self.choices:
            return value in self.choices
        if self.kind in (int, float) and not (self.zero_off and value == 0):
            # Written as "not >=" so that NaN is refused.
            if self.minimum is not None and not value >= self.minimum:
                return False
            if self.maximum is not None and not value <= self.maximum:
                return False
        return True


_KIND_WORDS: Mapping[type, str] = {
    int: "a whole number",
    float: "a number",
    str: "text",
    bool: "true or false",
}


def _argument_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


NULL_EVENT_TS_OPTIONS: tuple[str, ...] = ("quarantine", "default_partition")
_LOOKBACK_MINUTES = 60.0

#: Every optional job argument, in the order of the report's ``options``.
OPTIONS: tuple[JobOption, ...] = (
    JobOption(
        name="null_event_ts",
        kind=str,
        default="quarantine",
        choices=NULL_EVENT_TS_OPTIONS,
        help="Rows without event_ts: quarantine them, or keep them in event_date=__HIVE_DEFAULT_PARTITION__ "
        "as the original pipeline did.",
    ),
    JobOption(
        name="max_quarantine_ratio",
        kind=float,
        default=0.05,
        minimum=0.0,
        maximum=1.0,
        help="Fail when a larger share of the rows read is quarantined.",
    ),
    JobOption(
        name="min_rows_read",
        kind=int,
        default=0,
        minimum=0,
        local=False,
        help="Fail when fewer rows than this are read (0: an empty run is fine).",
    ),
    JobOption(
        name="volume_anomaly_factor",
        kind=float,
        default=3.0,
        minimum=1.0,
        zero_off=True,
        help="Flag a date whose rows are this many times above or below the median of earlier dates "
        "(0: off).",
    ),
    JobOption(
        name="volume_baseline_days",
        kind=int,
        default=7,
        minimum=1,
        local=False,
        help="Earlier dates in a date's baseline (the median of the latest ones).",
    ),
    JobOption(
        name="volume_min_rows",
        kind=int,
        default=1000,
        minimum=0,
        local=False,
        # A day holding only late events says nothing about volume.
        help="Dates with fewer rows are neither judged nor used as a baseline "
        f"(a date needs {MIN_BASELINE_DATES} sizeable earlier dates to have one).",
    ),
    JobOption(
        name="fail_on_volume_anomaly",
        kind=bool,
        default=False,
        help="Fail the run on a volume anomaly.",
    ),
    JobOption(
        name="incremental",
        kind=bool,
        default=False,
        # Unset in Glue: on when the job's bookmark option is enable or pause (see resolve_job_options).
        argument_default="",
        help="Read only raw objects modified after the last committed run "
        f"(less {_argument_text(_LOOKBACK_MINUTES)} minutes).",
    ),
    JobOption(
        name="lookback_minutes",
        kind=float,
        default=_LOOKBACK_MINUTES,
        minimum=0.0,
        local=False,
        help="Overlap of incremental reads, in minutes.",
    ),
    JobOption(
        name="metrics_namespace",
        kind=str,
        default="NetflixPipeline",
        none_word="none",
        local=False,  # CloudWatch: Glue only
        help="CloudWatch namespace for the run's metrics; none: no metrics.",
    ),
)
_OPTION: Mapping[str, JobOption] = {o.name: o for o in OPTIONS}

#: The paths a run reads and writes (required job arguments).
PATH_ARGS: tuple[str, ...] = ("raw_path", "processed_path", "quarantine_path", "report_path")
#: Glue job arguments: required ones, then optional ones with their defaults.
REQUIRED_ARGS: tuple[str, ...] = ("JOB_NAME", *PATH_ARGS)
OPTIONAL_ARGS: Mapping[str, str] = {o.name: o.default_text for o in OPTIONS}


def _check_job_options(self: Any) -> None:
    for option in OPTIONS:
        value = getattr(self, option.name)
        if not option.allows(value):
            msg = f"--{option.name} must be {option.expected} (got {value!r})"
            raise ValueError(msg)
    for name in PATH_ARGS[1:]:
        if _inside(getattr(self, name), self.raw_path):
            msg = f"--{name} {getattr(self, name)!r} is inside --raw_path {self.raw_path!r}"
            raise ValueError(msg)


#: Everything a run needs: the paths, each of :data:`OPTIONS` (with its default) and the
#: job name; the Glue job arguments map one to one (``--raw_path``...). Frozen, keyword-only.
JobOptions = make_dataclass(
    "JobOptions",
    [
        *((name, str) for name in PATH_ARGS),
        *((o.name, o.kind, field(default=o.default)) for o in OPTIONS),
        ("job_name", str, field(default=JOB_NAME)),
    ],
    namespace={
        "__post_init__": _check_job_options,
        "__module__": __name__,
        "__doc__": "Everything a run needs; the Glue job arguments map one to one (``--raw_path``...).",
    },
    frozen=True,
    slots=True,
    kw_only=True,
)


def resolve_job_options(
    argv: Sequence[str], get_resolved_options: Callable[[Sequence[str], list[str]], dict[str, str]]
) -> tuple[JobOptions, dict[str, str]]:
    """Parse Glue's ``sys.argv`` with ``awsglue.utils.getResolvedOptions`` (passed in).

    ``getResolvedOptions`` only knows required arguments, so optional ones are asked
    for only when present. Without ``--incremental``, the job's bookmark option
    decides: ``job-bookmark-enable`` or ``-pause`` read only new objects (Glue's own
    bookmarks track DynamicFrame sources only; this job keeps its watermark in its
    reports). Returns the options and the raw argument dict (for ``Job.init``).
    """
    present = [name for name in OPTIONAL_ARGS if f"--{name}" in argv]
    args = dict(get_resolved_options(argv, [*REQUIRED_ARGS, *present]))
    texts = {name: args.get(name, default) for name, default in OPTIONAL_ARGS.items()}
    if not texts["incremental"]:
        bookmarks = args.get("job_bookmark_option") or ""
        texts["incremental"] = str(bookmarks in ("job-bookmark-enable", "job-bookmark-pause"))
    try:
        values = {name: _parse_argument(name, text) for name, text in texts.items()}
        options = JobOptions(**{name: args[name] for name in PATH_ARGS}, **values, job_name=args["JOB_NAME"])
    except ValueError as exc:
        msg = f"invalid job arguments: {exc}"
        raise ValueError(msg) from None
    return options, args


def _parse_argument(name: str, text: str) -> Any:
    try:
        return _OPTION[name].parse(text)
    except ValueError as exc:
        msg = f"--{name} must be {exc} (got {text!r})"
        raise ValueError(msg) from None


def _inside(path: str, parent: str) -> bool:
    if "://" in path or "://" in parent:
        return path.rstrip("/").startswith(parent.rstrip("/") + "/")
    return Path(path).resolve().is_relative_to(Path(parent).resolve())


# -- Spark transforms ------------------------------------------------------------------


def configure_session(spark: SparkSession) -> None:
    """UTC everywhere, dynamic partition overwrite, Snappy: what every run relies on."""
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
    spark.conf.set("spark.sql.parquet.compression.codec", "snappy")


def processed_schema() -> T.StructType:
    """The processed table as a Spark schema."""
    return _schema(PROCESSED_COLUMNS)


def quarantine_schema() -> T.StructType:
    """The quarantine table as a Spark schema."""
    return _schema(QUARANTINE_COLUMNS)


#: The Athena/Spark type names of the columns, and the Spark type each one is.
_SPARK_TYPES: Mapping[str, str] = {
    "string": "StringType",
    "bigint": "LongType",
    "int": "IntegerType",
    "double": "DoubleType",
    "timestamp": "TimestampType",
    "date": "DateType",
}


def _schema(columns: Iterable[tuple[str, str]]) -> T.StructType:
    return T.StructType([T.StructField(name, getattr(T, _SPARK_TYPES[kind])()) for name, kind in columns])


def read_raw_lines(
    spark: SparkSession, raw_path: str, *, modified_after: datetime | None = None
) -> DataFrame:
    """Every line under ``raw_path``: ``value``, ``source_file``, ``source_modified``.

    Any depth (Firehose's ``YYYY/MM/dd/HH/`` or a prefix with ``key=value`` folders,
    which are not partitions here); ``.gz`` objects are decompressed; names starting
    with ``.`` or ``_`` are skipped (in-progress and marker files).
    """
    reader = spark.read.option("recursiveFileLookup", "true")
    if modified_after is not None:
        reader = reader.option("modifiedAfter", modified_after.strftime("%Y-%m-%dT%H:%M:%S")).option(
            "timeZone", "UTC"
        )
    return reader.text(raw_path).select(
        F.col("value"),
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_modification_time").alias("source_modified"),
    )


def parse_events(lines: DataFrame, *, null_event_ts: str = "quarantine") -> DataFrame:
    """Parse and check each line: the processed columns, typed, plus ``reason``.

    ``reason`` is null for a usable row and names the first rule it fails otherwise.
    Also kept: ``value`` (the raw line), ``source_file``, ``source_modified``,
    ``event_ts_raw`` and the drift flags ``drift_content_id`` and ``drift_iso_ts``.
    """
    if null_event_ts not in NULL_EVENT_TS_OPTIONS:
        msg = f"null_event_ts must be one of {NULL_EVENT_TS_OPTIONS} (got {null_event_ts!r})"
        raise ValueError(msg)
    fields = [name for name, _ in RAW_COLUMNS] + list(DRIFT_RENAMES) + ["_corrupt_record"]
    json_schema = T.StructType([T.StructField(name, T.StringType()) for name in fields])
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"}
    df = lines.withColumn("_json", F.from_json(F.col("value"), json_schema, options))

    def raw(name: str) -> Column:
        column = F.col(f"_json.{name}")
        for alias, target in DRIFT_RENAMES.items():
            if target == name:
                column = F.coalesce(column, F.col(f"_json.{alias}"))
        return column

    # event_ts: epoch seconds (a JSON number or a numeric string) or an ISO-8601 string.
    ts_text = F.trim(raw("event_ts"))
    ts_number = ts_text.cast("double")
    ts_iso = F.when(ts_number.isNull(), ts_text.cast("timestamp"))
    ts_value = F.coalesce(ts_number, F.unix_micros(ts_iso) / F.lit(1_000_000.0))
    ts_ok = (
        ts_value.isNotNull()
        & ~F.isnan(ts_value)
        & (ts_value >= F.lit(EVENT_TS_MIN))
        & (ts_value < F.lit(EVENT_TS_MAX))
    )
    typed: dict[str, Column] = {}
    for name, kind in RAW_COLUMNS:
        if name == "event_ts":
            typed[name] = F.when(ts_ok, ts_value)
        elif kind == "string":
            typed[name] = raw(name)
        else:
            # Integers must be written as integers: "5.7" is not silently truncated.
            typed[name] = F.when(raw(name).rlike(_INTEGER), F.trim(raw(name)).cast(kind))
    micros = F.round(typed["event_ts"] * F.lit(1_000_000.0)).cast("long")
    typed["event_timestamp"] = F.timestamp_micros(micros)
    # From the same microseconds, so the date never disagrees with the timestamp, and
    # independent of the session time zone.
    typed["event_date"] = F.date_from_unix_date(F.floor(micros / F.lit(86_400_000_000)).cast("int"))

    def blank(column: Column) -> Column:
        return column.isNull() | (F.trim(column) == "")

    rules: list[tuple[str, Column]] = [
        ("empty_record", F.col("value").rlike(r"^\s*$")),
        ("malformed_json", F.col("_json").isNull() | F.col("_json._corrupt_record").isNotNull()),
        ("missing_event_id", blank(raw("event_id"))),
        ("missing_user_id", raw("user_id").isNull()),
        ("invalid_user_id", typed["user_id"].isNull()),
        ("missing_title_id", raw("title_id").isNull()),
        ("invalid_title_id", typed["title_id"].isNull()),
        ("missing_event_type", blank(raw("event_type"))),
        ("unknown_event_type", ~raw("event_type").isin(*EVENT_TYPES)),
    ]
    if null_event_ts == "quarantine":
        rules.append(("null_event_ts", raw("event_ts").isNull()))
    rules.append(("invalid_event_ts", raw("event_ts").isNotNull() & ~ts_ok))
    for name, kind in RAW_COLUMNS:
        if kind != "string" and name not in REQUIRED_FIELDS and name != "event_ts":
            rules.append((f"invalid_{name}", raw(name).isNotNull() & typed[name].isNull()))
    reason: Column | None = None
    for name, condition in rules:
        reason = F.when(condition, name) if reason is None else reason.when(condition, name)
    assert reason is not None

    return df.select(
        *[typed[name].cast(kind).alias(name) for name, kind in PROCESSED_COLUMNS],
        reason.alias("reason"),
        F.col("value"),
        F.col("source_file"),
        F.col("source_modified"),
        raw("event_ts").alias("event_ts_raw"),
        (F.col("_json.title_id").isNull() & F.col("_json.content_id").isNotNull()).alias("drift_content_id"),
        (ts_number.isNull() & ts_iso.isNotNull()).alias("drift_iso_ts"),
    )


def read_processed(spark: SparkSession, path: str) -> DataFrame | None:
    """The processed table at ``path``, or None when nothing was ever written there."""
    return _read_parquet(spark, path, processed_schema())


def _read_parquet(spark: SparkSession, path: str, schema: T.StructType) -> DataFrame | None:
    from pyspark.errors import AnalysisException

    try:
        return spark.read.schema(schema).parquet(path)
    except AnalysisException as exc:
        if exc.getErrorClass() == "PATH_NOT_FOUND":
            return None
        raise


def partitions_filter(column: str, dates: Sequence[date | None]) -> Column:
    """Rows whose partition ``column`` is one of ``dates`` (None: the default partition)."""
    real = [d for d in dates if d is not None]
    condition = F.col(column).isin(*real) if real else F.lit(False)
    if any(d is None for d in dates):
        condition = condition | F.col(column).isNull()
    return condition


def deduplicate(new: DataFrame, existing: DataFrame | None = None) -> DataFrame:
    """Rank every copy of each ``event_id``: ``_rank`` 1 is the one kept.

    Rows already in the processed table (``existing``) win, so published rows never
    change; then the earliest ``event_ts`` (nulls last); then the raw line, so the
    choice is the same on every run. ``_origin`` is 0 for existing rows and 1 for new
    ones; ``_winner_origin`` is the origin of the row kept for that ``event_id``.
    """
    from pyspark.sql import Window

    rows = new.select(*PROCESSED_NAMES, F.lit(1).alias("_origin"), F.col("value").alias("_tiebreak"))
    if existing is not None:
        old = existing.select(
            *PROCESSED_NAMES, F.lit(0).alias("_origin"), F.lit(None).cast("string").alias("_tiebreak")
        )
        rows = old.unionByName(rows)
    order = Window.partitionBy("event_id").orderBy(
        F.col("_origin"), F.col("event_ts").asc_nulls_last(), F.col("_tiebreak").asc_nulls_last()
    )
    return rows.withColumn("_rank", F.row_number().over(order)).withColumn(
        "_winner_origin", F.min("_origin").over(Window.partitionBy("event_id"))
    )


def write_processed(rows: DataFrame, path: str) -> None:
    """Snappy Parquet partitioned by ``event_date``; only the partitions in ``rows`` are replaced."""
    (
        rows.select(*PROCESSED_NAMES)
        .repartition("event_date")
        .sortWithinPartitions("event_date", "event_ts", "event_id")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .option("compression", "snappy")
        .option("maxRecordsPerFile", MAX_RECORDS_PER_FILE)
        .partitionBy("event_date")
        .parquet(path)
    )


def quarantine_rows(parsed: DataFrame, *, run_id: str, quarantined_at: datetime) -> DataFrame:
    """The rows that failed a rule, with their raw line, source object and reason."""
    name_date = F.regexp_extract(F.col("source_file"), _FIREHOSE_NAME_DATE, 1)
    return parsed.where(F.col("reason").isNotNull()).select(
        F.col("reason"),
        F.col("value").alias("raw_record"),
        F.col("source_file"),
        F.col("event_id"),
        F.col("event_ts_raw"),
        F.lit(run_id).alias("run_id"),
        F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
        F.coalesce(F.to_date(F.when(name_date != "", name_date)), F.to_date(F.col("source_modified"))).alias(
            "ingest_date"
        ),
    )


def write_quarantine(spark: SparkSession, rows: DataFrame, path: str, *, run_files: DataFrame) -> None:
    """Replace this run's quarantined rows, keep other runs' (partitioned by ``ingest_date``).

    Rows already in the touched partitions that came from one of ``run_files`` (the
    objects this run read) are dropped first, so re-running over the same objects
    does not quarantine their lines twice.
    """
    dates = [r["ingest_date"] for r in rows.select("ingest_date").distinct().collect()]
    existing = _read_parquet(spark, path, quarantine_schema())
    if existing is not None:
        kept = existing.where(partitions_filter("ingest_date", dates)).join(
            F.broadcast(run_files), "source_file", "left_anti"
        )
        rows = kept.select(*(n for n, _ in QUARANTINE_COLUMNS)).unionByName(
            rows.select(*(n for n, _ in QUARANTINE_COLUMNS))
        )
    (
        rows.repartition("ingest_date")
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .option("compression", "snappy")
        .partitionBy("ingest_date")
        .parquet(path)
    )


# -- data quality ------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class RunCounts:
    """What the Spark side of a run counted (plain Python, so the report logic is testable)."""

    files_read: int = 0
    rows_read: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    event_type_violations: dict[str, int] = field(default_factory=dict)
    drift_content_id: int = 0
    drift_iso_ts: int = 0
    source_max_modified: str | None = None
    rows_written: int = 0
    duplicates_within_input: int = 0
    duplicates_already_in_output: int = 0
    previous_duplicates_removed: int = 0
    #: Rows of each partition this run writes, after the run (new plus kept).
    rows_per_date: dict[str, int] = field(default_factory=dict)
    new_rows_per_date: dict[str, int] = field(default_factory=dict)
    #: Null values per processed column among the rows this run writes.
    null_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    @property
    def duplicates_removed(self) -> int:
        return self.duplicates_within_input + self.duplicates_already_in_output


def date_key(value: date | None) -> str:
    """A partition as a report key: ISO date, or ``__HIVE_DEFAULT_PARTITION__``."""
    return HIVE_DEFAULT_PARTITION if value is None else value.isoformat()


def volume_checks(
    rows_per_date: Mapping[str, int],
    history: Mapping[str, int],
    *,
    factor: float,
    baseline_days: int,
    min_rows: int,
) -> list[dict[str, Any]]:
    """Each date of this run against its baseline; ``anomaly`` when over ``factor`` off.

    The baseline of a date is the median count of the ``baseline_days`` latest earlier
    dates with at least ``min_rows`` rows, from ``history`` (earlier runs) and this
    run; a date needs :data:`MIN_BASELINE_DATES` of them. Dates under ``min_rows``
    are not checked: a day holding only a few late events says nothing about volume.
    """
    counts = {**history, **rows_per_date}
    sizeable = sorted(d for d, n in counts.items() if d != HIVE_DEFAULT_PARTITION and n >= min_rows)
    checks = []
    for day in sorted(d for d, n in rows_per_date.items() if d != HIVE_DEFAULT_PARTITION and n >= min_rows):
        earlier = [d for d in sizeable if d < day][-baseline_days:]
        if len(earlier) < MIN_BASELINE_DATES:
            continue
        baseline = statistics.median(counts[d] for d in earlier)
        rows = rows_per_date[day]
        ratio = rows / baseline
        checks.append(
            {
                "date": day,
                "rows": rows,
                "baseline": baseline,
                "ratio": round(ratio, 4),
                "baseline_dates": earlier,
                "anomaly": factor > 0 and (ratio > factor or ratio < 1.0 / factor),
            }
        )
    return checks


def build_report(
    counts: RunCounts,
    options: JobOptions,
    *,
    run_id: str,
    started_at: datetime,
    finished_at: datetime,
    history: Mapping[str, int],
    modified_after: datetime | None,
) -> dict[str, Any]:
    """The data-quality report of a run, with its rules evaluated."""
    read = counts.rows_read
    quarantined = counts.rows_quarantined
    ratio = quarantined / read if read else 0.0
    checks = volume_checks(
        counts.rows_per_date,
        history,
        factor=options.volume_anomaly_factor,
        baseline_days=options.volume_baseline_days,
        min_rows=options.volume_min_rows,
    )
    anomalies = [c for c in checks if c["anomaly"]]
    accounted = counts.rows_written + quarantined + counts.duplicates_removed
    rules = [
        {
            "rule": "accounting",
            "threshold": "rows_read == rows_written + rows_quarantined + duplicates_removed",
            "value": accounted,
            "passed": accounted == read,
        },
        {
            "rule": "max_quarantine_ratio",
            "threshold": options.max_quarantine_ratio,
            "value": round(ratio, 6),
            "passed": ratio <= options.max_quarantine_ratio,
        },
        {
            "rule": "min_rows_read",
            "threshold": options.min_rows_read,
            "value": read,
            "passed": read >= options.min_rows_read,
        },
    ]
    if options.fail_on_volume_anomaly:
        rules.append(
            {
                "rule": "volume_anomaly",
                "threshold": options.volume_anomaly_factor,
                "value": len(anomalies),
                "passed": not anomalies,
            }
        )
    written = counts.rows_written
    return {
        "job": options.job_name,
        "run_id": run_id,
        "started_at": _iso(started_at),
        "finished_at": _iso(finished_at),
        "duration_s": round((finished_at - started_at).total_seconds(), 3),
        "raw_path": options.raw_path,
        "processed_path": options.processed_path,
        "quarantine_path": options.quarantine_path,
        "options": {k: v for k, v in asdict(options).items() if not k.endswith("_path")},
        "modified_after": _iso(modified_after) if modified_after else None,
        "files_read": counts.files_read,
        "source_max_modified": counts.source_max_modified,
        "rows_read": read,
        "rows_written": written,
        "rows_quarantined": quarantined,
        "duplicates_removed": counts.duplicates_removed,
        "quarantine_ratio": round(ratio, 6),
        "quarantined_by_reason": dict(
            sorted(counts.quarantined_by_reason.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        "duplicates": {
            "within_input": counts.duplicates_within_input,
            "already_in_output": counts.duplicates_already_in_output,
            "previous_duplicates_removed": counts.previous_duplicates_removed,
        },
        "schema_drift": {
            "content_id_as_title_id": counts.drift_content_id,
            "event_ts_as_iso_string": counts.drift_iso_ts,
        },
        "null_rates": {
            name: round(counts.null_counts.get(name, 0) / written, 6) if written else 0.0
            for name in PROCESSED_NAMES
        },
        "event_type_domain_violations": dict(
            sorted(counts.event_type_violations.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        "rows_per_date": dict(sorted(counts.rows_per_date.items())),
        "new_rows_per_date": dict(sorted(counts.new_rows_per_date.items())),
        "volume_checks": checks,
        "volume_anomalies": anomalies,
        "rules": rules,
        "passed": all(r["passed"] for r in rules),
        "output_committed": False,
    }


def failure_message(report: Mapping[str, Any]) -> str:
    """One line naming every failed rule."""
    parts = []
    for rule in report["rules"]:
        if rule["passed"]:
            continue
        name = rule["rule"]
        if name == "max_quarantine_ratio":
            reasons = ", ".join(f"{k} {v:,}" for k, v in list(report["quarantined_by_reason"].items())[:4])
            parts.append(
                f"quarantine ratio {rule['value']:.4f} > {rule['threshold']} "
                f"({report['rows_quarantined']:,} of {report['rows_read']:,} rows: {reasons})"
            )
        elif name == "min_rows_read":
            parts.append(f"{rule['value']:,} rows read < minimum {rule['threshold']:,}")
        elif name == "volume_anomaly":
            days = ", ".join(
                f"{a['date']} {a['rows']:,} rows vs baseline {a['baseline']:,.0f}"
                for a in report["volume_anomalies"][:3]
            )
            parts.append(f"volume anomaly beyond x{rule['threshold']}: {days}")
        else:
            parts.append(
                f"accounting broken: {report['rows_read']:,} read != {rule['value']:,} "
                "written + quarantined + duplicates"
            )
    return "data quality check failed: " + "; ".join(parts)


# -- reports: local directory or s3://bucket/prefix ----------------------------------------


def write_report(report_path: str, report: Mapping[str, Any], *, s3_client: Any = None) -> str:
    """Store the report as ``dq-report-<run_id>.json``; return where."""
    name = f"{REPORT_PREFIX}{report['run_id']}.json"
    body = json.dumps(report, indent=2, sort_keys=False) + "\n"
    if report_path.startswith("s3://"):
        bucket, prefix = _split_s3(report_path)
        client = s3_client or _boto3_client("s3")
        client.put_object(
            Bucket=bucket, Key=prefix + name, Body=body.encode(), ContentType="application/json"
        )
        return f"s3://{bucket}/{prefix}{name}"
    directory = Path(report_path)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{name}.tmp"
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(directory / name)
    return str(directory / name)


def load_reports(report_path: str, *, limit: int = 100, s3_client: Any = None) -> list[dict[str, Any]]:
    """The latest ``limit`` reports at ``report_path``, oldest first; unreadable ones are skipped."""
    bodies: list[tuple[str, bytes]] = []
    if report_path.startswith("s3://"):
        bucket, prefix = _split_s3(report_path)
        client = s3_client or _boto3_client("s3")
        keys: list[str] = []
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + REPORT_PREFIX
        ):
            keys.extend(obj["Key"] for obj in page.get("Contents", []) if obj["Key"].endswith(".json"))
        for key in sorted(keys)[-limit:]:
            bodies.append((key, client.get_object(Bucket=bucket, Key=key)["Body"].read()))
    else:
        directory = Path(report_path)
        if directory.is_dir():
            for path in sorted(directory.glob(f"{REPORT_PREFIX}*.json"))[-limit:]:
                bodies.append((str(path), path.read_bytes()))
    reports = []
    for where, body in bodies:
        try:
            report = json.loads(body)
        except ValueError:
            logger.warning("skipping unreadable report %s", where)
            continue
        if isinstance(report, dict) and "run_id" in report:
            reports.append(report)
    return sorted(reports, key=lambda r: str(r["run_id"]))


def committed_history(reports: Iterable[Mapping[str, Any]], processed_path: str) -> dict[str, int]:
    """Rows per date as committed by earlier runs into ``processed_path`` (latest run wins)."""
    history: dict[str, int] = {}
    for report in reports:
        if report.get("output_committed") and report.get("processed_path") == processed_path:
            history.update({str(k): int(v) for k, v in report.get("rows_per_date", {}).items()})
    return history


def previous_watermark(reports: Sequence[Mapping[str, Any]], options: JobOptions) -> datetime | None:
    """Newest raw object modification time read by the last committed run over the same paths."""
    for report in reversed(reports):
        if (
            report.get("output_committed")
            and report.get("raw_path") == options.raw_path
            and report.get("processed_path") == options.processed_path
            and report.get("source_max_modified")
        ):
            return datetime.fromisoformat(str(report["source_max_modified"]))
    return None


def _split_s3(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def _boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service)


# -- CloudWatch ---------------------------------------------------------------------------


def metric_data(report: Mapping[str, Any], *, job_name: str) -> list[dict[str, Any]]:
    """The report's counts as CloudWatch ``MetricData`` entries (dimension ``JobName``)."""
    dims = [{"Name": "JobName", "Value": job_name}]
    counts = {
        "RowsRead": report["rows_read"],
        "RowsWritten": report["rows_written"],
        "RowsQuarantined": report["rows_quarantined"],
        "DuplicatesRemoved": report["duplicates_removed"],
        "VolumeAnomalies": len(report["volume_anomalies"]),
        "DataQualityFailed": 0 if report["passed"] else 1,
    }
    data: list[dict[str, Any]] = [
        {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": "Count"}
        for name, value in counts.items()
    ]
    data.append(
        {
            "MetricName": "QuarantineRatio",
            "Dimensions": dims,
            "Value": float(report["quarantine_ratio"]),
            "Unit": "None",
        }
    )
    for reason, value in report["quarantined_by_reason"].items():
        data.append(
            {
                "MetricName": "RowsQuarantined",
                "Dimensions": [*dims, {"Name": "Reason", "Value": reason}],
                "Value": float(value),
                "Unit": "Count",
            }
        )
    return data


def publish_metrics(report: Mapping[str, Any], *, namespace: str, job_name: str, client: Any) -> int:
    """``put_metric_data`` in calls of at most 20 entries; returns how many were sent."""
    data = metric_data(report, job_name=job_name)
    for start in range(0, len(data), 20):
        client.put_metric_data(Namespace=namespace, MetricData=data[start : start + 20])
    return len(data)


# -- the run ----------------------------------------------------------------------------


def run_job(
    spark: SparkSession,
    options: JobOptions,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """One run: read, check, deduplicate, write, report. Returns the report (also stored).

    A failed rule does not raise: the report says ``passed: false``, the quarantine
    and the report are written, the processed table is left as it was.
    """
    configure_session(spark)
    started = now()
    run_id = started.strftime("%Y%m%dT%H%M%S%fZ")
    reports = load_reports(options.report_path)
    modified_after = None
    if options.incremental:
        watermark = previous_watermark(reports, options)
        if watermark is not None:
            modified_after = watermark - timedelta(minutes=options.lookback_minutes)

    lines = read_raw_lines(spark, options.raw_path, modified_after=modified_after)
    counts = RunCounts(files_read=len(lines.inputFiles()))
    parsed = parse_events(lines, null_event_ts=options.null_event_ts).persist()
    ranked: DataFrame | None = None
    try:
        touched = _count_parsed(parsed, counts)
        valid = parsed.where(F.col("reason").isNull())
        existing = read_processed(spark, options.processed_path)
        if existing is not None:
            existing = existing.where(partitions_filter("event_date", touched))
        ranked = deduplicate(valid, existing).persist()
        _count_ranked(ranked, counts)

        history = committed_history(reports, options.processed_path)
        if not history:
            history = _partition_counts(spark, options.processed_path)
        report = build_report(
            counts,
            options,
            run_id=run_id,
            started_at=started,
            finished_at=now(),
            history=history,
            modified_after=modified_after,
        )
        if counts.rows_quarantined:
            write_quarantine(
                spark,
                quarantine_rows(parsed, run_id=run_id, quarantined_at=started),
                options.quarantine_path,
                run_files=parsed.select("source_file").distinct(),
            )
        if report["passed"]:
            if counts.rows_written or counts.previous_duplicates_removed:
                write_processed(ranked.where(F.col("_rank") == 1), options.processed_path)
            report["output_committed"] = True
    finally:
        parsed.unpersist()
        if ranked is not None:
            ranked.unpersist()
    report["finished_at"] = _iso(now())
    report["duration_s"] = round((now() - started).total_seconds(), 3)
    report["report_location"] = write_report(options.report_path, report)
    return report


def _count_parsed(parsed: DataFrame, counts: RunCounts) -> list[date | None]:
    """Fill the read-side counts; return the event dates of the usable rows."""
    reason = F.col("reason")
    groups = parsed.groupBy(
        reason,
        F.when(reason == "unknown_event_type", F.col("event_type")).alias("violation"),
        F.when(reason.isNull(), F.col("event_date")).alias("date"),
    ).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("drift_content_id").cast("long")).alias("drift_content_id"),
        F.sum(F.col("drift_iso_ts").cast("long")).alias("drift_iso_ts"),
        F.max("source_modified").alias("source_max_modified"),
    )
    touched: set[date | None] = set()
    newest: datetime | None = None
    for row in groups.collect():
        rows = int(row["rows"])
        counts.rows_read += rows
        counts.drift_content_id += int(row["drift_content_id"] or 0)
        counts.drift_iso_ts += int(row["drift_iso_ts"] or 0)
        if row["source_max_modified"] is not None:
            newest = row["source_max_modified"] if newest is None else max(newest, row["source_max_modified"])
        if row["reason"] is None:
            touched.add(row["date"])
            continue
        counts.quarantined_by_reason[row["reason"]] = (
            counts.quarantined_by_reason.get(row["reason"], 0) + rows
        )
        if row["violation"] is not None:
            key = str(row["violation"])
            counts.event_type_violations[key] = counts.event_type_violations.get(key, 0) + rows
    if newest is not None:
        # Spark hands back naive datetimes in the session time zone (UTC here).
        counts.source_max_modified = _iso(newest.replace(tzinfo=UTC))
    return sorted(touched, key=lambda d: (d is None, d or date.min))


def _count_ranked(ranked: DataFrame, counts: RunCounts) -> None:
    """Fill the write-side counts from the ranked candidates."""
    kept = F.col("_rank") == 1
    groups = ranked.groupBy(
        F.col("_origin"), kept.alias("kept"), F.col("_winner_origin"), F.col("event_date")
    ).agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.sum(F.col(name).isNull().cast("long")).alias(f"null_{name}") for name in PROCESSED_NAMES],
    )
    for row in groups.collect():
        rows = int(row["rows"])
        day = date_key(row["event_date"])
        if row["kept"]:
            counts.rows_per_date[day] = counts.rows_per_date.get(day, 0) + rows
        if row["_origin"] == 0:
            if not row["kept"]:
                counts.previous_duplicates_removed += rows
            continue
        if row["kept"]:
            counts.rows_written += rows
            counts.new_rows_per_date[day] = counts.new_rows_per_date.get(day, 0) + rows
            for name in PROCESSED_NAMES:
                counts.null_counts[name] = counts.null_counts.get(name, 0) + int(row[f"null_{name}"] or 0)
        elif row["_winner_origin"] == 0:
            counts.duplicates_already_in_output += rows
        else:
            counts.duplicates_within_input += rows


def _partition_counts(spark: SparkSession, path: str) -> dict[str, int]:
    """Rows per event_date already in the processed table (the baseline with no reports)."""
    table = read_processed(spark, path)
    if table is None:
        return {}
    return {date_key(r["event_date"]): int(r["count"]) for r in table.groupBy("event_date").count().collect()}


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# -- the Glue entry -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Glue entry: parse the job arguments, run, publish metrics, commit the bookmark.

    A failed rule raises :class:`DataQualityFailure` (one line) after the report and
    the metrics are out, and before ``job.commit()``, so the run is marked failed and
    the next run reads the same objects again.
    """
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv if argv is None else argv)
    options, args = resolve_job_options(argv, getResolvedOptions)
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(options.job_name, args)
    report = run_job(glue_context.spark_session, options)
    logger.info("data quality report: %s", json.dumps({k: report[k] for k in _SUMMARY_KEYS}))
    if options.metrics_namespace:
        try:
            sent = publish_metrics(
                report,
                namespace=options.metrics_namespace,
                job_name=options.job_name,
                client=_boto3_client("cloudwatch"),
            )
            logger.info("published %d CloudWatch metrics to %s", sent, options.metrics_namespace)
        except Exception as exc:  # metrics must never hide the run's own outcome
            logger.warning("could not publish CloudWatch metrics: %s", exc)
    if not report["passed"]:
        raise DataQualityFailure(failure_message(report))
    job.commit()


_SUMMARY_KEYS = (
    "run_id", "rows_read", "rows_written", "rows_quarantined", "duplicates_removed",
    "quarantined_by_reason", "rows_per_date", "volume_anomalies", "passed", "report_location",
)  # fmt: skip


if __name__ == "__main__":
    main()
