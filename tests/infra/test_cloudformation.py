"""The pipeline's CloudFormation: linted, scanned, and held to the contracts the rest of the
project relies on (the producer's key layout, the Glue job's arguments and output layout,
the schema module, the Athena queries, least-privilege IAM).

These tests read the templates; they never deploy them. moto's CloudFormation silently
skips Firehose, Glue, Athena and CloudWatch resources, so a moto deployment proves nothing.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from producer.generation.schema import PROCESSED_FIELDS, RAW_FIELDS
from producer.sinks.lake import (
    DEFAULT_BUFFER_BYTES,
    DEFAULT_BUFFER_INTERVAL_S,
    DEFAULT_PREFIX,
    DEFAULT_STREAM,
)

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "infra" / "cloudformation").glob("*.yaml"))
PIPELINE = ROOT / "infra" / "cloudformation" / "pipeline.yaml"
NAMED_QUERIES = ROOT / "infra" / "cloudformation" / "named_queries.yaml"
GLUE_SCRIPT = ROOT / "glue_scripts" / "netflix_raw_to_processed.py"
QUERIES = sorted((ROOT / "queries").glob("*.sql"))
CHECKOV = Path(os.environ.get("NETFLIX_PRODUCER_CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))
#: The largest template `aws cloudformation deploy` sends inline (larger ones need --s3-bucket).
MAX_INLINE_TEMPLATE_BYTES = 51_200
#: Regions cfn-lint checks the resource types against (the original pipeline ran in ap-south-1).
LINT_REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-south-1"]
#: No network (--skip-download): guidelines and Prisma Cloud IDs are not needed to scan.
CHECKOV_OPTIONS = ["--framework", "cloudformation", "--skip-download"]
NO_VALUE = {"Ref": "AWS::NoValue"}
#: Actions AWS grants on no resource narrower than "*".
NO_RESOURCE_LEVEL = {"cloudwatch:PutMetricData"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(PIPELINE))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return resources[name]["Properties"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def branches(value: Any) -> Iterator[Any]:
    """Every value ``value`` can take: both sides of an Fn::If, never AWS::NoValue."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        for side in value["Fn::If"][1:]:
            yield from branches(side)
    elif value != NO_VALUE:
        yield value


def as_list(value: Any) -> list[Any]:
    """``value`` as a list of concrete items (lists flattened one level, Fn::If expanded)."""
    items = [item for v in branches(value) for item in (v if isinstance(v, list) else [v])]
    return [concrete for item in items for concrete in branches(item)]


def sub(value: Any) -> str:
    """The text of an Fn::Sub, with ``${!x}`` (a literal ``${x}``) unescaped."""
    assert isinstance(value, dict) and "Fn::Sub" in value, value
    text = value["Fn::Sub"]
    text = text[0] if isinstance(text, list) else text
    return str(text).replace("${!", "${")


def statements(resource: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement of every policy document of an IAM role or policy (all Fn::If branches)."""
    p = resource["Properties"]
    documents = [p["PolicyDocument"]] if "PolicyDocument" in p else []
    documents += [policy["PolicyDocument"] for policy in as_list(p.get("Policies", []))]
    for document in documents:
        yield from as_list(document["Statement"])


POLICY_TYPES = (
    "AWS::IAM::Role",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Policy",
    "AWS::S3::BucketPolicy",
    "AWS::SNS::TopicPolicy",
)


def allow_statements(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Allow statement of every policy (Deny ones, like the bucket's TLS rule, may be broad)."""
    for name, resource in resources.items():
        if resource["Type"] in POLICY_TYPES:
            for statement in statements(resource):
                if statement["Effect"] == "Allow":
                    yield name, statement


def s3_object_patterns(resources: dict[str, Any], role: str) -> list[str]:
    """The role's Allow resources on objects of the bucket, as ``<key pattern>``."""
    patterns = []
    for statement in statements(resources[role]):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                text = sub(resource)
                if text.startswith("${DataLakeBucket.Arn}/"):
                    patterns.append(text.removeprefix("${DataLakeBucket.Arn}/"))
    return patterns


def raw_zone() -> str:
    """The static head of the producer's prefix: the raw zone (``netflix/``)."""
    head = DEFAULT_PREFIX[: DEFAULT_PREFIX.index("!{")]
    return head[: head.rindex("/") + 1]


# ------------------------------------------------------------------ linters


@pytest.mark.slow  # runs a process
@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_reports_no_error_and_no_warning(path: Path) -> None:
    command = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())"]
    result = subprocess.run(
        [*command, "--regions", *LINT_REGIONS, "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.slow
@pytest.mark.skipif(
    not CHECKOV.exists(),
    reason=f"checkov is not installed at {CHECKOV} (its own tool venv, made by make); or set NETFLIX_PRODUCER_CHECKOV",
)
def test_checkov_finds_no_failed_check() -> None:
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(PIPELINE.parent), *CHECKOV_OPTIONS, "--output", "json"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    report = json.loads(result.stdout)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    for skipped in report["results"]["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment", "").strip(), skipped["check_id"]
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_every_checkov_skip_carries_its_reason(path: Path) -> None:
    for name, resource in cfn_yaml.load(str(path))["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
            assert len(skip.get("comment", "").strip()) > 20, (name, skip)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_templates_deploy_without_an_artifact_bucket(path: Path) -> None:
    assert path.stat().st_size < MAX_INLINE_TEMPLATE_BYTES


# --------------------------------------------------------------------- IAM


def test_no_allow_statement_has_a_wildcard_action(resources: dict[str, Any]) -> None:
    checked = 0
    for name, statement in allow_statements(resources):
        assert "NotAction" not in statement and "NotResource" not in statement, name
        for action in as_list(statement["Action"]):
            assert "*" not in action, (name, action)
            checked += 1
    assert checked > 20


def test_allow_statements_name_their_resources(resources: dict[str, Any]) -> None:
    for name, statement in allow_statements(resources):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= NO_RESOURCE_LEVEL, name
            assert statement["Condition"], name  # narrowed some other way


def test_job_metrics_are_limited_to_their_namespaces(resources: dict[str, Any]) -> None:
    (metrics,) = [
        s for s in statements(resources["GlueJobRole"]) if s["Action"] == "cloudwatch:PutMetricData"
    ]
    namespaces = metrics["Condition"]["StringEquals"]["cloudwatch:namespace"]
    assert namespaces == ["Glue", {"Ref": "EtlMetricsNamespace"}]


def test_no_role_can_touch_the_whole_bucket(resources: dict[str, Any]) -> None:
    for role in ("FirehoseRole", "GlueJobRole", "CrawlerRole", "ProducerPolicy"):
        patterns = s3_object_patterns(resources, role)
        assert patterns, role
        assert all(not p.startswith("*") for p in patterns), (role, patterns)


def test_each_role_is_scoped_to_its_prefixes(resources: dict[str, Any]) -> None:
    raw = raw_zone()
    assert s3_object_patterns(resources, "FirehoseRole") == [f"{raw}*", "firehose-errors/*"]
    assert s3_object_patterns(resources, "CrawlerRole") == [f"{raw}*"]
    glue = s3_object_patterns(resources, "GlueJobRole")
    assert set(glue) == {"netflix*", "glue-scripts*", "processed*", "quarantine*", "reports*", "glue-temp*"}


def test_the_glue_job_may_read_and_write_where_its_arguments_point(resources: dict[str, Any]) -> None:
    args = props(resources, "GlueJob")["DefaultArguments"]
    allowed: dict[str, set[str]] = {}
    for statement in statements(resources["GlueJobRole"]):
        for resource in as_list(statement["Resource"]):
            if isinstance(resource, dict) and "Fn::Sub" in resource:
                key = sub(resource).removeprefix("${DataLakeBucket.Arn}/")
                allowed.setdefault(key, set()).update(as_list(statement["Action"]))
    needs = {
        "--raw_path": "s3:GetObject",
        "--processed_path": "s3:PutObject",
        "--quarantine_path": "s3:PutObject",
        "--report_path": "s3:PutObject",
        "--TempDir": "s3:PutObject",
        "--spark-event-logs-path": "s3:PutObject",
    }
    for arg, action in needs.items():
        key = sub(args[arg]).removeprefix("s3://${DataLakeBucket}/") + "part-0000"
        assert any(fnmatch.fnmatchcase(key, p) and action in a for p, a in allowed.items()), arg
    script = sub(props(resources, "GlueJob")["Command"]["ScriptLocation"]).removeprefix(
        "s3://${DataLakeBucket}/"
    )
    assert script == "${GlueScriptKey}"


def test_producer_policy_is_what_run_and_verify_need(resources: dict[str, Any]) -> None:
    policy = list(statements(resources["ProducerPolicy"]))
    actions = {a for s in policy for a in as_list(s["Action"])}
    assert actions == {
        "firehose:PutRecordBatch",
        "firehose:DescribeDeliveryStream",
        "s3:ListBucket",
        "s3:GetObject",
    }
    send = next(s for s in policy if "firehose:PutRecordBatch" in as_list(s["Action"]))
    assert send["Resource"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}
    listing = next(s for s in policy if s["Action"] == "s3:ListBucket")
    assert listing["Resource"] == {"Fn::GetAtt": ["DataLakeBucket", "Arn"]}
    prefix_patterns = as_list(listing["Condition"]["StringLike"]["s3:prefix"])
    # `netflix-producer verify --s3 s3://<bucket>/netflix/` lists with Prefix="netflix/".
    assert any(fnmatch.fnmatchcase(raw_zone(), p) for p in prefix_patterns)
    assert not any(fnmatch.fnmatchcase("processed/", p) for p in prefix_patterns)
    assert s3_object_patterns(resources, "ProducerPolicy") == [f"{raw_zone()}*"]


def test_service_roles_trust_only_their_service(resources: dict[str, Any]) -> None:
    services = {"FirehoseRole": "firehose.amazonaws.com", "GlueJobRole": "glue.amazonaws.com"}
    services["CrawlerRole"] = "glue.amazonaws.com"
    for role, service in services.items():
        (trust,) = props(resources, role)["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": service}
        assert trust["Action"] == "sts:AssumeRole"


# ------------------------------------------------------------------ storage


def test_bucket_is_encrypted_versioned_and_private(resources: dict[str, Any]) -> None:
    bucket = props(resources, "DataLakeBucket")
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    algorithms = as_list(rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"])
    assert set(algorithms) == {"AES256", "aws:kms"}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    block = bucket["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_bucket_policy_denies_every_request_without_tls(resources: dict[str, Any]) -> None:
    policy = props(resources, "DataLakeBucketPolicy")
    assert policy["Bucket"] == {"Ref": "DataLakeBucket"}
    deny = [
        s
        for s in policy["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
    ]
    assert len(deny) == 1
    assert deny[0]["Principal"] == "*" and deny[0]["Action"] == "s3:*"
    assert deny[0]["Resource"] == [
        {"Fn::GetAtt": ["DataLakeBucket", "Arn"]},
        {"Fn::Sub": "${DataLakeBucket.Arn}/*"},
    ]


def test_raw_zone_has_lifecycle_rules(resources: dict[str, Any]) -> None:
    rules = {r["Id"]: r for r in props(resources, "DataLakeBucket")["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-zone"]
    assert raw["Prefix"] == raw_zone() and raw["Status"] == "Enabled"
    assert raw["Transitions"][0]["StorageClass"] == "STANDARD_IA"
    assert raw["ExpirationInDays"] == {"Ref": "RawExpirationDays"}
    assert "AbortIncompleteMultipartUpload" in rules["all-versions-and-uploads"]
    assert "NoncurrentVersionExpiration" in rules["all-versions-and-uploads"]


# ---------------------------------------------------------------- ingestion


def test_firehose_writes_the_producers_lake_layout(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    stream = props(resources, "DeliveryStream")
    s3 = stream["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == DEFAULT_PREFIX
    assert "!{firehose:error-output-type}" in s3["ErrorOutputPrefix"]
    assert not s3["ErrorOutputPrefix"].startswith(raw_zone())  # errors never mix with events
    assert s3["BucketARN"] == {"Fn::GetAtt": ["DataLakeBucket", "Arn"]}
    assert s3["CloudWatchLoggingOptions"]["Enabled"] is True
    assert s3["CompressionFormat"] == {"Ref": "CompressionFormat"}
    params = template["Parameters"]
    assert s3["BufferingHints"] == {
        "IntervalInSeconds": {"Ref": "BufferIntervalSeconds"},
        "SizeInMBs": {"Ref": "BufferSizeMiB"},
    }
    assert params["BufferIntervalSeconds"]["Default"] == DEFAULT_BUFFER_INTERVAL_S
    assert params["BufferSizeMiB"]["Default"] * 1024 * 1024 == DEFAULT_BUFFER_BYTES
    assert set(params["CompressionFormat"]["AllowedValues"]) == {"GZIP", "UNCOMPRESSED"}
    assert params["DeliveryStreamName"]["Default"] == DEFAULT_STREAM


def test_kinesis_source_is_optional(resources: dict[str, Any]) -> None:
    stream = props(resources, "DeliveryStream")
    assert set(as_list(stream["DeliveryStreamType"])) == {"DirectPut", "KinesisStreamAsSource"}
    assert resources["SourceStream"]["Condition"] == "UseKinesis"
    assert resources["ProducerKinesisPolicy"]["Condition"] == "UseKinesis"


# ------------------------------------------------------------------ catalog


def test_glue_database_defaults_to_the_original_pipelines(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert template["Parameters"]["GlueDatabaseName"]["Default"] == "netflix-streams-aws"
    assert props(resources, "GlueDatabase")["DatabaseInput"]["Name"] == {"Ref": "GlueDatabaseName"}


def test_raw_table_columns_are_the_schema_modules(resources: dict[str, Any]) -> None:
    table = props(resources, "RawEventsTable")["TableInput"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, f.athena_type) for f in RAW_FIELDS]
    assert sub(table["StorageDescriptor"]["Location"]) == f"s3://${{DataLakeBucket}}/{raw_zone()}"
    template = sub(table["Parameters"]["storage.location.template"])
    # The projected location is the producer's prefix with its timestamp expressions as keys.
    expected = DEFAULT_PREFIX.replace("!{timestamp:yyyy}", "${ingest_year}").replace(
        "!{timestamp:MM/dd/HH}", "${ingest_month}/${ingest_day}/${ingest_hour}"
    )
    assert template == f"s3://${{DataLakeBucket}}/{expected}"


def test_processed_table_matches_the_etl_output(resources: dict[str, Any]) -> None:
    table = props(resources, "ProcessedEventsTable")["TableInput"]
    assert table["Name"] == "processed_netflix_events"
    partition = [f for f in PROCESSED_FIELDS if f.name == "event_date"]
    assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [
        (f.name, f.athena_type) for f in partition
    ]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(f.name, f.athena_type) for f in PROCESSED_FIELDS if f.name != "event_date"]
    assert "parquet" in table["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].lower()
    location = sub(table["StorageDescriptor"]["Location"])
    assert location == sub(props(resources, "GlueJob")["DefaultArguments"]["--processed_path"])
    params = table["Parameters"]
    assert sub(params["storage.location.template"]) == location + "event_date=${event_date}/"
    assert params["projection.enabled"] == "true"
    assert params["projection.event_date.type"] == "date"
    assert params["projection.event_date.format"] == "yyyy-MM-dd"
    start, end = sub(params["projection.event_date.range"]).split(",")
    assert start == "${ProcessedProjectionStart}" and end.startswith("NOW")
    assert params["projection.event_date.interval.unit"] == "DAYS"


# ---------------------------------------------------------------------- ETL


def test_glue_job_runs_the_shipped_script_on_glue_5(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    job = props(resources, "GlueJob")
    assert job["GlueVersion"] == "5.0"
    assert job["Command"]["Name"] == "glueetl"
    assert sub(job["Command"]["ScriptLocation"]) == "s3://${DataLakeBucket}/${GlueScriptKey}"
    params = template["Parameters"]
    assert params["GlueScriptKey"]["Default"] == "glue-scripts/netflix_raw_to_processed.py"
    assert Path(params["GlueScriptKey"]["Default"]).name == GLUE_SCRIPT.name  # what make deploy uploads
    assert params["GlueJobName"]["Default"] == "netflix-raw-to-processed"
    assert (job["WorkerType"], job["NumberOfWorkers"]) == (
        {"Ref": "GlueWorkerType"},
        {"Ref": "GlueNumberOfWorkers"},
    )
    assert (params["GlueWorkerType"]["Default"], params["GlueNumberOfWorkers"]["Default"]) == ("G.1X", 2)
    assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}


def test_glue_job_arguments_are_the_scripts(resources: dict[str, Any]) -> None:
    args = props(resources, "GlueJob")["DefaultArguments"]
    zones = {"--raw_path": raw_zone(), "--processed_path": "processed/"}
    zones |= {"--quarantine_path": "quarantine/", "--report_path": "reports/"}
    for arg, zone in zones.items():
        assert sub(args[arg]) == f"s3://${{DataLakeBucket}}/{zone}", arg
    assert args["--null_event_ts"] == {"Ref": "NullEventTsPolicy"}
    assert args["--metrics_namespace"] == {"Ref": "EtlMetricsNamespace"}
    assert args["--job-bookmark-option"] == "job-bookmark-enable"
    for flag in ("--enable-metrics", "--enable-continuous-cloudwatch-log", "--enable-observability-metrics"):
        assert args[flag] == "true", flag


def test_etl_runs_on_a_schedule(resources: dict[str, Any]) -> None:
    trigger = props(resources, "EtlTrigger")
    assert trigger["Type"] == "SCHEDULED"
    assert trigger["Schedule"] == {"Ref": "EtlSchedule"}
    assert trigger["Actions"] == [{"JobName": {"Ref": "GlueJob"}}]


def test_null_event_ts_defaults_to_quarantine(template: dict[str, Any]) -> None:
    assert template["Parameters"]["NullEventTsPolicy"]["Default"] == "quarantine"


def script_constants() -> dict[str, Any]:
    """The Glue script's argument constants (it imports without pyspark)."""
    wanted = {"REQUIRED_ARGS", "OPTIONAL_ARGS", "NULL_EVENT_TS_OPTIONS", "OPTIONS"}
    found = {name: getattr(glue_script(), name) for name in wanted if hasattr(glue_script(), name)}
    assert set(found) == wanted, f"{GLUE_SCRIPT.name} no longer defines {wanted - set(found)}"
    return found


@functools.cache
def glue_script() -> ModuleType:
    name = "glue_script_under_test"
    spec = importlib.util.spec_from_file_location(name, GLUE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not GLUE_SCRIPT.exists(), reason=f"{GLUE_SCRIPT} is not in the tree yet")
def test_glue_job_passes_only_arguments_the_script_reads(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    script = script_constants()
    args = props(resources, "GlueJob")["DefaultArguments"]
    # The script's own arguments are snake_case; Glue's are hyphenated (and --TempDir).
    passed = {key[2:] for key in args if "-" not in key[2:] and key != "--TempDir"}
    known = set(script["REQUIRED_ARGS"]) | set(script["OPTIONAL_ARGS"])
    assert passed <= known, passed - known
    assert set(script["REQUIRED_ARGS"]) - {"JOB_NAME"} <= passed  # Glue passes JOB_NAME itself
    params = template["Parameters"]
    assert params["NullEventTsPolicy"]["AllowedValues"] == list(script["NULL_EVENT_TS_OPTIONS"])
    assert params["NullEventTsPolicy"]["Default"] == script["OPTIONAL_ARGS"]["null_event_ts"]
    assert params["EtlMetricsNamespace"]["Default"] == script["OPTIONAL_ARGS"]["metrics_namespace"]


@pytest.mark.skipif(not GLUE_SCRIPT.exists(), reason=f"{GLUE_SCRIPT} is not in the tree yet")
def test_glue_job_arguments_default_to_the_scripts_declared_defaults(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    """An option the template passes has, as its value or its parameter's default, the
    script's own default: a deployed job behaves as the script documents."""
    args = props(resources, "GlueJob")["DefaultArguments"]
    params = template["Parameters"]
    passed = {}
    for option in script_constants()["OPTIONS"]:
        value = args.get(f"--{option.name}")
        if value is None:
            continue
        if isinstance(value, dict):
            value = params[value["Ref"]]["Default"]
        passed[option.name] = str(value)
    assert passed == {name: script_constants()["OPTIONAL_ARGS"][name] for name in passed}
    assert set(passed) == {"null_event_ts", "metrics_namespace"}  # the rest keep the script's defaults


# ---------------------------------------------------------------- analytics


def test_athena_workgroup_enforces_results_location_and_scan_limit(resources: dict[str, Any]) -> None:
    config = props(resources, "AthenaWorkGroup")["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert config["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoff"}
    assert sub(config["ResultConfiguration"]["OutputLocation"]) == "s3://${DataLakeBucket}/athena-results/"
    encryption = as_list(config["ResultConfiguration"]["EncryptionConfiguration"])
    assert {e["EncryptionOption"] for e in encryption} == {"SSE_S3", "SSE_KMS"}


def test_named_queries_hold_exactly_the_sql_files() -> None:
    queries = cfn_yaml.load(str(NAMED_QUERIES))["Resources"]
    named = {
        p["Name"]: p for p in (r["Properties"] for r in of_type(queries, "AWS::Athena::NamedQuery").values())
    }
    assert QUERIES, "queries/*.sql is empty"
    assert sorted(named) == [path.stem for path in QUERIES]
    for path in QUERIES:
        query = named[path.stem]
        assert query["QueryString"].strip() == path.read_text(encoding="utf-8").strip(), path.name
        assert query["Database"] == {"Ref": "GlueDatabaseName"}
        assert query["WorkGroup"] == {"Ref": "AthenaWorkGroupName"}


def test_named_queries_default_to_the_pipelines_workgroup_and_database(template: dict[str, Any]) -> None:
    queries = cfn_yaml.load(str(NAMED_QUERIES))
    for name in ("GlueDatabaseName", "AthenaWorkGroupName"):
        assert queries["Parameters"][name]["Default"] == template["Parameters"][name]["Default"], name
        assert name in template["Outputs"], name


@pytest.mark.slow  # runs a process
def test_sync_script_agrees_that_the_named_queries_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "infra" / "sync_named_queries.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------- monitoring


def test_alarms_cover_firehose_and_the_glue_job(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    watched = {
        (json.dumps(a["Properties"]["Namespace"]).strip('"'), a["Properties"]["MetricName"]) for a in alarms
    }
    assert {
        ("AWS/Firehose", "ThrottledRecords"),
        ("AWS/Firehose", "DeliveryToS3.DataFreshness"),
        ("AWS/Firehose", "DeliveryToS3.Success"),
        ("Glue", "glue.ALL.jvm.heap.usage"),
        ("AWS/Events", "TriggeredRules"),  # the rule matching the job's FAILED/TIMEOUT/ERROR
        ('{"Ref": "EtlMetricsNamespace"}', "VolumeAnomalies"),  # the job's data-quality report
    } <= watched
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    rule = props(resources, "GlueJobFailedRule")
    assert set(rule["EventPattern"]["detail"]["state"]) == {"FAILED", "TIMEOUT", "ERROR"}
    assert rule["EventPattern"]["detail"]["jobName"] == [{"Ref": "GlueJob"}]


def test_alarm_topic_mails_the_given_address(resources: dict[str, Any]) -> None:
    subscription = resources["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert subscription["Properties"]["Protocol"] == "email"


def test_dashboard_body_is_json(resources: dict[str, Any]) -> None:
    body, variables = props(resources, "Dashboard")["DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"AlarmArns"}
    rendered = re.sub(r"\$\{AlarmArns\}", '"arn:alarm"', body)
    rendered = re.sub(r"\$\{[A-Za-z0-9:.]+\}", "x", rendered)
    widgets = json.loads(rendered)["widgets"]
    assert {w["type"] for w in widgets} == {"metric", "alarm"}


# ------------------------------------------------------------------ outputs


def test_outputs_are_what_the_producer_needs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    wanted = {"BucketName", "DeliveryStreamName", "DeliveryStreamArn", "GlueDatabaseName"}
    wanted |= {"AthenaWorkGroupName", "ProducerPolicyArn"}
    assert wanted <= set(outputs)
    assert outputs["DeliveryStreamName"]["Value"] == {"Ref": "DeliveryStream"}
    assert outputs["DeliveryStreamArn"]["Value"] == {"Fn::GetAtt": ["DeliveryStream", "Arn"]}
    assert outputs["ProducerPolicyArn"]["Value"] == {"Ref": "ProducerPolicy"}
    assert sub(outputs["RawZoneUrl"]["Value"]) == f"s3://${{DataLakeBucket}}/{raw_zone()}"


def test_dimension_tables_are_the_dims_the_producer_writes(resources: dict[str, Any]) -> None:
    from producer.sinks.dims import DIM_COLUMNS, GLUE_TABLES, table_key

    tables = {
        r["Properties"]["TableInput"]["Name"]: r["Properties"]["TableInput"]
        for r in resources.values()
        if r["Type"] == "AWS::Glue::Table"
    }
    for name, columns in DIM_COLUMNS.items():
        table = tables[GLUE_TABLES[name]]
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == list(columns)
        location = table["StorageDescriptor"]["Location"]["Fn::Sub"]
        # The folder of the table's one Parquet object, as the s3 sink keys it.
        assert location == "s3://${DataLakeBucket}/" + table_key(name).rsplit("/", 1)[0] + "/"
        assert table["Parameters"]["classification"] == "parquet"
