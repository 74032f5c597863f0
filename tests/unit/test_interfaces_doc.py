"""Every JSON example of docs/Interfaces.md against the code and the state machine definition."""

from __future__ import annotations

import itertools
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from burst_client.cost import load_definition
from burst_core.exceptions import BurstError
from burst_core.job import STATE_PAYLOAD_LIMIT_BYTES, parse_job_request
from burst_core.monitor import summarize
from burst_core.persistence import BatchRecord, BatchStatus, decode_record
from burst_core.results import batch_result
from tests.support import DOC, EXAMPLES, ROOT, section


def lifecycle_states() -> dict[str, Any]:
    states = dict(load_definition()["States"])
    states.update(states["MapJobs"]["ItemProcessor"]["States"])
    return states


def payload_keys(state: dict[str, Any]) -> set[str]:
    return {key.removesuffix(".$") for key in state["Parameters"]["Payload"]}


def test_every_example_is_found_and_parsed():
    assert len(re.findall(r"<!-- example:", DOC)) == len(EXAMPLES) >= 16


def test_dispatch_input_is_valid():
    request = parse_job_request(EXAMPLES["dispatch-input"])
    assert request.job_parameters == EXAMPLES["dispatch-input"]["jobParameters"]


def test_dispatch_output_matches_the_dispatcher(aws_env):
    import boto3
    from moto import mock_aws

    from burst_core.config import Settings
    from burst_core.dispatch import Dispatcher
    from tests.local.support import create_function, make_zip

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="burst-doc-test")
        sfn = boto3.client("stepfunctions")
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = boto3.client("lambda")
        for field in ("workerFunctionName", "combinerFunctionName"):
            create_function(lambda_client, iam, EXAMPLES["dispatch-input"][field], make_zip({"h.py": ""}), Timeout=60)
        arn, express = (
            sfn.create_state_machine(
                name=name,
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
                roleArn=role,
            )["stateMachineArn"]
            for name in ("janelia-burst-compute-dev-lifecycle", "janelia-burst-compute-dev-lifecycle-express")
        )
        settings = Settings(
            "t", "burst-doc-test", arn, express_state_machine_arn=express, worker_function_pattern="janelia-*"
        )
        out = Dispatcher(settings, s3=s3, stepfunctions=sfn, lambda_client=lambda_client).dispatch(
            EXAMPLES["dispatch-input"]
        )
    example = EXAMPLES["dispatch-output"]
    assert set(out) == set(example)
    assert (out["numBatches"], out["batchSize"]) == (example["numBatches"], example["batchSize"])
    start = datetime.fromisoformat(out["startTime"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(out["deadline"].replace("Z", "+00:00"))
    assert (deadline - start).total_seconds() == EXAMPLES["dispatch-input"]["jobsTimeoutSecs"]
    assert out["workflowArn"].endswith(":execution:janelia-burst-compute-dev-lifecycle-express:" + out["jobId"])
    # the state machine of the example's batch type, in both answers
    for name in ("dispatch-output", "redrive-output"):
        machine = EXAMPLES[name]["workflowArn"].split(":")[6]
        assert machine == out["workflowArn"].split(":")[6], name
        assert EXAMPLES[name]["workflowArn"].split(":")[7].startswith(EXAMPLES[name]["jobId"])
    assert (out["batchExecutionType"], out["maxParallelism"]) == (
        example["batchExecutionType"],
        example["maxParallelism"],
    )


def test_redrive_input_example_is_accepted_fields_only():
    from burst_core.dispatch import REDRIVE_FIELD

    assert set(EXAMPLES["redrive-input"]) == {REDRIVE_FIELD, "jobsTimeoutSecs"}


def test_dispatch_error_example():
    with pytest.raises(BurstError) as caught:
        parse_job_request(EXAMPLES["dispatch-error-input"])
    assert {"errorType": type(caught.value).__name__, "errorMessage": str(caught.value)} == EXAMPLES[
        "dispatch-error-output"
    ]


def test_worker_input_is_what_the_state_machine_sends():
    assert payload_keys(lifecycle_states()["ExecuteBatch"]) == set(EXAMPLES["worker-input"])


def _row(output: Any) -> dict[str, Any]:
    return {"batchId": {"N": "7"}, "status": {"S": "succeeded"}, "output": {"S": json.dumps(output)}}


class _S3:
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        raise AssertionError("no S3 read expected")


@pytest.mark.parametrize(
    ("name", "mime", "nresults"),
    [
        ("worker-output-results", "application/json", 2),
        ("worker-output-plain", "application/json", 2),
        ("worker-output-text", "text/csv", 1),
    ],
)
def test_worker_outputs_read_back_as_results(name, mime, nresults):
    result = batch_result(decode_record(_row(EXAMPLES[name])), _S3())
    assert (result.mime_type, result.nresults, result.results_s3_uri) == (mime, nresults, None)


def test_worker_output_pointer():
    class S3:
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
            assert f"s3://{Bucket}/{Key}" == EXAMPLES["worker-output-s3"]["resultsS3Uri"]
            return {"Body": __import__("io").BytesIO(b"[1]")}

    result = batch_result(decode_record(_row(EXAMPLES["worker-output-s3"])), S3())
    assert (result.results, result.nresults) == ([1], 25000)


def test_batch_row_holds_what_the_state_machine_writes():
    row = EXAMPLES["batch-row"]
    record = lifecycle_states()["RecordResult"]["Parameters"]
    written = {"jobId", "batchId"} | set(record["ExpressionAttributeNames"].values()) - {"error", "cause"}
    assert set(row) == written  # error and cause are removed from a succeeded batch's row
    assert json.loads(row["output"]) == EXAMPLES["worker-output-results"]
    assert row["status"] == record["ExpressionAttributeValues"][":status"]["S"]


class _Table:
    def __init__(self, records: list[BatchRecord]) -> None:
        self._records = records

    def records(self, job_id: str) -> list[BatchRecord]:
        return self._records

    def put_json_object(self, key: str, value: Any) -> str:
        return f"s3://bucket/{key}"


class _NoMapRunReports:
    def failures(self, job_id: str) -> dict[int, Any]:
        return {}


def _summary_for(example: dict[str, Any], records: list[BatchRecord], now: datetime) -> dict[str, Any]:
    event = {
        "jobId": example["jobId"],
        "numBatches": example["numBatches"],
        "startTime": example["startTime"],
        "deadline": example["deadline"],
        "toleratedPercentageFailure": example["toleratedPercentageFailure"],
        "rowTtl": "1900000000",  # dispatch's, as Summarize passes it
    }
    return summarize(event, _Table(records), _NoMapRunReports(), now=lambda: now)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["combiner-input-succeeded", "combiner-input-timed-out"])
def test_combiner_input_is_what_the_state_machine_sends(name):
    states = lifecycle_states()
    assert payload_keys(states["Combine"]) == set(EXAMPLES[name])
    assert states["CombineError"]["Parameters"] == states["Combine"]["Parameters"]


def _succeeded_case() -> tuple[list[BatchRecord], datetime]:
    failed = EXAMPLES["combiner-input-succeeded"]["failedBatches"][0]
    records = [BatchRecord(i, BatchStatus.SUCCEEDED) for i in range(100) if i != failed["batchId"]]
    records.append(BatchRecord(failed["batchId"], BatchStatus.FAILED, failed["error"], failed["cause"]))
    return records, datetime(2026, 11, 24, 12, 0, 41, 300000, tzinfo=UTC)


def _timed_out_case() -> tuple[list[BatchRecord], datetime]:
    return [BatchRecord(i, BatchStatus.SUCCEEDED) for i in range(60)], datetime(
        2026, 11, 24, 12, 15, 5, 200000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("name", "case"), [("combiner-input-succeeded", _succeeded_case), ("combiner-input-timed-out", _timed_out_case)]
)
def test_combiner_summary_fields_come_from_the_summary(name, case):
    example = EXAMPLES[name]
    records, now = case()
    summary = _summary_for(example, records, now)
    for key, value in summary.items():
        if key not in {"toleratedPercentageFailure", "numBatches"}:
            assert example[key] == value, key


def test_execution_output_is_what_job_succeeded_returns():
    parameters = lifecycle_states()["JobSucceeded"]["Parameters"]
    assert {key.removesuffix(".$") for key in parameters} == set(EXAMPLES["execution-output"])


@pytest.mark.parametrize("name", ["worker-policy", "combiner-policy"])
def test_policies_are_policy_documents(name):
    policy = EXAMPLES[name]
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])
    assert "mapjobsinputs/results/*" in json.dumps(policy)


def test_cross_stack_outputs_are_those_of_serverless_yml():
    serverless = (ROOT / "serverless.yml").read_text()
    documented = set(re.findall(r"\$\{cf:janelia-burst-compute-dev\.(\w+)\}", DOC))
    exported = set(re.findall(r"^    (\w+):\n      Description:", serverless, flags=re.M))
    assert documented == exported


# -- the tables and rules stated in prose ------------------------------------------------------------


def table(name: str) -> list[dict[str, str]]:
    """The rows of the table marked ``<!-- table: name -->``, as {header: cell}."""
    block = re.search(rf"<!-- table: {name} -->\n((?:\|.*\|\n)+)", DOC)
    assert block is not None, name
    header, _, *rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in block[1].splitlines()]
    return [dict(zip(header, row, strict=True)) for row in rows]


NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def interval(text: str) -> tuple[int, int]:
    first, next_ = re.fullmatch(r"`?\[([\d,]+), ([\d,]+)\)`?", text).groups()  # type: ignore[union-attr]
    return number(first), number(next_)


def test_every_table_is_found():
    assert set(re.findall(r"<!-- table: ([\w-]+) -->", DOC)) == {
        "batch-sizes",
        "max-concurrency",
        "own-row",
        "unprocessed-indices",
    }


def _formula(*titles: str) -> str:
    """The first code block of a section: the rule it states, as written."""
    blocks = re.findall(r"^ *```(\w*)\n(.*?)\n *```$", section(*titles), flags=re.S | re.M)
    plain = [body for language, body in blocks if not language]
    assert plain, titles
    return str(plain[0])


def _batch_rule(size: int, asked: int, p: int, r: int) -> dict[str, int]:
    """The doc's batch size formula, evaluated as written (exact arithmetic)."""
    from fractions import Fraction

    names: dict[str, Any] = {"size": Fraction(size), "asked": Fraction(asked), "P": Fraction(p), "R": Fraction(r)}
    names.update(ceil=math.ceil, max=max)
    for line in _formula("### Batch size and rounds").splitlines():
        target, expression = (part.strip() for part in line.split("=", 1))
        expression = re.sub(r"\s*\(at most R\)$", "", expression).replace("batchSize asked", "asked")
        names[target] = eval(expression, {"__builtins__": {}}, names)
    return {key: int(names[key]) for key in ("batchSize", "numBatches", "rounds")}


def test_the_batch_size_formula_is_the_partition():
    from burst_core.partition import plan_partition

    for size in (1, 99, 100, 101, 4_999, 10_000, 150_000, 1_234_567, 9_999_999):
        for asked in (1, 7, 50, 100, 1_000):
            for p in (1, 3, 300, 1_000, 10_000):
                for r in (1, 2, 4):
                    partition = plan_partition(0, size, asked, p, r)
                    rule = _batch_rule(size, asked, p, r)
                    assert (partition.batch_size, partition.num_batches, partition.num_rounds) == (
                        rule["batchSize"],
                        rule["numBatches"],
                        rule["rounds"],
                    ), (size, asked, p, r)
                    assert partition.num_rounds <= r
                    # "changes only when ceil(size / batchSize asked) > R * P"
                    assert (partition.batch_size != asked) == (math.ceil(size / asked) > r * p)


def test_the_batch_size_table_and_its_worked_example():
    from burst_core.config import DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
    from burst_core.partition import plan_partition

    text = section("### Batch size and rounds")
    r = number(re.search(r"With `R = (\d+)`", text)[1])  # type: ignore[index]
    assert r == DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
    for row in table("batch-sizes"):
        size, asked, p = number(row["size"]), number(row["batchSize asked"]), number(row["maxParallelism"])
        partition = plan_partition(0, size, asked, p, r)
        assert number(row["ceil(size / batchSize asked)"]) == math.ceil(size / asked)
        assert (partition.batch_size, partition.num_batches, partition.num_rounds) == (
            number(row["batchSize used"]),
            number(row["numBatches"]),
            number(row["rounds"]),
        ), row
    worked = re.search(
        r"In the last row `(?P<asked_batches>[\d,]+) > (?P<r>\d+) \* (?P<p>[\d,]+)`, so the batch size becomes "
        r"`ceil\((?P<size>[\d,]+) / (?P<rp>[\d,]+)\) = (?P<batch_size>[\d,]+)`: (?P<batches>[\d,]+) batches, "
        r"(?P<first>[\d,]+) in the first round and (?P<second>[\d,]+) in the second; the last batch, "
        r"(?P<last>[\d,]+), covers (?P<indices>`\[[\d,]+, [\d,]+\)`), (?P<count>[\d,]+) indices",
        " ".join(text.split()),
    )
    assert worked is not None
    n = {key: number(value) for key, value in worked.groupdict().items() if key != "indices"}
    row = table("batch-sizes")[-1]
    assert (n["size"], n["p"], n["asked_batches"]) == (
        number(row["size"]),
        number(row["maxParallelism"]),
        number(row["ceil(size / batchSize asked)"]),
    )
    assert (n["r"], n["rp"]) == (r, r * n["p"])
    partition = plan_partition(0, n["size"], number(row["batchSize asked"]), n["p"], r)
    assert (partition.batch_size, partition.num_batches) == (n["batch_size"], n["batches"])
    assert n["batch_size"] == math.ceil(n["size"] / n["rp"])
    assert [partition.round_bounds(0), partition.round_bounds(n["first"])] == [
        (0, n["first"]),
        (n["first"], n["first"] + n["second"]),
    ]
    assert n["last"] == partition.num_batches - 1
    batch = partition.batch(n["last"])
    assert (batch.start_index, batch.end_index) == interval(worked["indices"])
    assert batch.end_index - batch.start_index == n["count"]


class _Lambda:
    """The Lambda calls dispatch makes to check a worker: its timeout and concurrency."""

    def __init__(self, reserved: int | None, unreserved: int | None) -> None:
        self.reserved, self.unreserved = reserved, unreserved

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        return {"Timeout": 60}

    def get_function_concurrency(self, FunctionName: str) -> dict[str, Any]:  # noqa: N803
        return {} if self.reserved is None else {"ReservedConcurrentExecutions": self.reserved}

    def get_account_settings(self) -> dict[str, Any]:
        if self.unreserved is None:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetAccountSettings")
        return {"AccountLimit": {"UnreservedConcurrentExecutions": self.unreserved}}


class _Nowhere:
    """S3 and Step Functions for a dispatch whose answer is all the test reads."""

    def put_object(self, **kwargs: Any) -> None:
        pass

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict[str, Any]:  # noqa: N803
        return {"executionArn": stateMachineArn.replace(":stateMachine:", ":execution:") + ":" + name}


def _dispatched(max_parallelism: int, reserved: int | None, unreserved: int | None) -> dict[str, Any]:
    from burst_core.config import DISTRIBUTED_MAP_MAX_CONCURRENCY, Settings
    from burst_core.dispatch import Dispatcher

    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:janelia-burst-compute-dev-lifecycle"
    settings = Settings(
        "janelia-burst-compute-dev-tasks",
        "janelia-burst-compute-dev-mapjobsinputs",
        arn,
        max_parallelism=DISTRIBUTED_MAP_MAX_CONCURRENCY,  # the most a deployment allows
        express_state_machine_arn=arn + "-express",
        stack_prefix="janelia-burst-compute-dev",
        worker_function_pattern="janelia-*",
    )
    dispatcher = Dispatcher(
        settings, s3=_Nowhere(), stepfunctions=_Nowhere(), lambda_client=_Lambda(reserved, unreserved)
    )
    event = {**EXAMPLES["dispatch-input"], "maxParallelism": max_parallelism}
    return dispatcher.dispatch(event)


def test_max_concurrency_is_the_smallest_of_the_round_the_map_and_the_lambda_limit():
    from burst_core.config import DEFAULT_MAX_PARALLELISM, DISTRIBUTED_MAP_MAX_CONCURRENCY, Settings

    text = section("### maxParallelism and Lambda concurrency")
    formula = re.fullmatch(
        r"maxConcurrency = min\(P, ([\d,]+), L\)", _formula("### maxParallelism and Lambda concurrency")
    )
    assert formula is not None
    cap = number(formula[1])
    assert cap == DISTRIBUTED_MAP_MAX_CONCURRENCY
    for row in table("max-concurrency"):
        reserved = (
            None if row["worker's reserved concurrency"] == "none" else number(row["worker's reserved concurrency"])
        )
        answer = _dispatched(number(row["maxParallelism"]), reserved, number(row["account's unreserved concurrency"]))
        assert answer["maxConcurrency"] == number(row["maxConcurrency"]), row
        source = (
            "the reserved concurrency of" if reserved is not None else "the account's unreserved Lambda concurrency"
        )
        assert answer["concurrencyLimit"].startswith(source)
    assert _dispatched(10_000, None, 20_000)["maxConcurrency"] == cap  # the Map's own limit
    unknown = _dispatched(700, None, None)  # no L: the round's size
    assert (unknown["maxConcurrency"], unknown["concurrencyLimit"][:9]) == (700, "unknown (")
    with pytest.raises(BurstError, match=r"workerFunctionName: .* is 0"):
        _dispatched(700, 0, 1_000)
    # "The deployment's MAX_PARALLELISM (5,000 by default, at most 10,000)"
    bounds = re.search(r"`MAX_PARALLELISM` \(([\d,]+) by default, at most ([\d,]+)\)", text)
    assert bounds is not None
    assert (number(bounds[1]), number(bounds[2])) == (DEFAULT_MAX_PARALLELISM, DISTRIBUTED_MAP_MAX_CONCURRENCY)
    env = {"TASKS_TABLE_NAME": "t", "BATCH_INPUTS_BUCKET": "b", "MAX_PARALLELISM": "20000"}
    assert Settings.from_env(env).max_parallelism == DISTRIBUTED_MAP_MAX_CONCURRENCY


def test_unprocessed_ranges_are_batch_ids_converted_to_indices_as_the_doc_says():
    from burst_core.partition import plan_partition
    from burst_core.persistence import ranges

    text = " ".join(section("## Combiner", "### Input").split())
    formulas = re.search(
        r"Batch `b` covers the indices `\[(.*?), (min\(.*?\))\)`, .*? so a range `\[first, next\)` covers "
        r"`\[(.*?), (min\(.*?\))\)`:",
        text,
    )
    assert formulas is not None
    batch_bounds, range_bounds = formulas.groups()[:2], formulas.groups()[2:]
    rows = table("unprocessed-indices")
    for row in rows:
        start, end, size = number(row["datasetStartIndex"]), number(row["datasetEndIndex"]), number(row["batchSize"])
        first, next_ = interval(row["batch ids"])
        partition = plan_partition(start, end, size, 10_000, 2)
        assert partition.batch_size == size
        names = {"datasetStartIndex": start, "datasetEndIndex": end, "batchSize": size, "min": min}
        for b in range(first, next_):  # the doc's formula for a batch, as written, is the partition's
            bounds = tuple(eval(bound, {"__builtins__": {}}, {**names, "b": b}) for bound in batch_bounds)
            assert bounds == (partition.batch(b).start_index, partition.batch(b).end_index)
        covered = [partition.batch(b) for b in range(first, next_)]
        assert all(a.end_index == b.start_index for a, b in itertools.pairwise(covered))
        assert (covered[0].start_index, covered[-1].end_index) == interval(row["dataset indices"])
        # and the doc's formula for a range
        values = {**names, "first": first, "next": next_}
        assert tuple(eval(bound, {"__builtins__": {}}, values) for bound in range_bounds) == interval(
            row["dataset indices"]
        )
        assert ranges(range(first, next_)) == [[first, next_]]
    timed_out = EXAMPLES["combiner-input-timed-out"]
    assert (rows[0]["datasetStartIndex"], rows[0]["datasetEndIndex"], rows[0]["batchSize"]) == tuple(
        f"{timed_out[key]:,}" for key in ("datasetStartIndex", "datasetEndIndex", "batchSize")
    )
    assert [list(interval(rows[0]["batch ids"]))] == timed_out["unprocessedBatches"]
    cut = re.search(r"the last batch, (\d+), is cut to (`\[[\d,]+, [\d,]+\)`)", DOC)
    assert cut is not None
    last = plan_partition(5, 1_000, 100, 10_000, 2)
    assert number(cut[1]) == last.num_batches - 1
    batch = last.batch(number(cut[1]))
    assert (batch.start_index, batch.end_index) == interval(cut[2])
    assert batch.end_index - batch.start_index < last.batch_size


# -- a worker that writes its own row ------------------------------------------------------------------


def _serverless_resources() -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):  # CloudFormation tags (!Ref, ...) read as null
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return dict(yaml.load((ROOT / "serverless.yml").read_text(), Loader=Loader)["resources"]["Resources"])


def test_own_row_keys_and_ttl_are_the_tables():
    rows = {row["attribute"].strip("`"): row["type"] for row in table("own-row")}
    properties = _serverless_resources()["TasksTable"]["Properties"]
    keys = {key["AttributeName"] for key in properties["KeySchema"]}
    types = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    assert {name: rows[name] for name in keys} == {name: types[name] for name in keys} == {"jobId": "S", "batchId": "N"}
    assert properties["TimeToLiveSpecification"]["AttributeName"] == "ttl"
    assert rows["ttl"] == "N"


def _own_row(**attributes: dict[str, str]) -> dict[str, Any]:
    """A row its worker wrote, as RecordResult leaves it (the worker returned null)."""
    row = {"jobId": {"S": "j"}, "batchId": {"N": "7"}, "status": {"S": "succeeded"}, "output": {"S": "null"}}
    return {**row, **attributes}


class _Bucket:
    def __init__(self, body: bytes = b"") -> None:
        self.body = body

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        return {"Body": __import__("io").BytesIO(self.body)}


def test_own_row_attributes_are_read_with_their_documented_types():
    rows = {row["attribute"].strip("`"): row["type"] for row in table("own-row")}
    t = rows  # the documented type of each attribute
    matches = [{"index": 702, "score": 0.6875}, {"index": 714, "score": 0.640625}]
    read = batch_result(decode_record(_own_row(results={t["results"]: json.dumps(matches)})), _Bucket())
    assert (read.results, read.nresults, read.mime_type) == (matches, 2, "application/json")  # the defaults
    read = batch_result(decode_record(_own_row(results={t["results"]: json.dumps({"best": 1})})), _Bucket())
    assert read.nresults == 1  # not a list
    text = _own_row(
        results={t["results"]: "index,score\n702,0.6875\n"},
        resultsMimeType={t["resultsMimeType"]: "text/csv"},
        nresults={t["nresults"]: "1"},
    )
    read = batch_result(decode_record(text), _Bucket())
    assert (read.results, read.nresults, read.mime_type) == ("index,score\n702,0.6875\n", 1, "text/csv")
    uri = "s3://janelia-burst-compute-dev-mapjobsinputs/results/j/7.json"
    read = batch_result(
        decode_record(_own_row(resultsS3Uri={t["resultsS3Uri"]: uri}, nresults={t["nresults"]: "2"})),
        _Bucket(json.dumps(matches).encode()),
    )
    assert (read.results, read.nresults, read.results_s3_uri) == (matches, 2, uri)


def test_own_row_attributes_of_other_types():
    doc = section("### A worker that writes its own row")
    typed = re.search(r"as DynamoDB's typed value, undecoded \(`(\{.*?\})`\)", doc)
    assert typed is not None
    value = json.loads(typed[1])
    assert batch_result(decode_record(_own_row(results=value)), _Bucket()).results == value
    assert "A\n`resultsMimeType`, `nresults` or `resultsS3Uri` of another type than the table's is ignored" in doc
    read = batch_result(
        decode_record(
            _own_row(
                results={"S": "[1, 2, 3]"},
                resultsMimeType={"B": b"text/csv"},  # type: ignore[dict-item]
                nresults={"S": "9"},
                resultsS3Uri={"L": []},  # type: ignore[dict-item]
            )
        ),
        _Bucket(),
    )
    assert (read.results, read.nresults, read.mime_type, read.results_s3_uri) == (
        [1, 2, 3],
        3,
        "application/json",
        None,
    )


def test_what_record_result_does_to_the_row_is_what_the_doc_says():
    doc = " ".join(section("### A worker that writes its own row").split())
    said = re.search(r"it sets (.*?), removes (.*?), and sets `(\w+)` only when the row has none", doc)
    assert said is not None
    sets, removes = (re.findall(r"`(\w+)`", said[i]) for i in (1, 2))
    record = lifecycle_states()["RecordResult"]["Parameters"]
    names = record["ExpressionAttributeNames"]
    expression = " ".join(record["UpdateExpression"].split())
    set_part, remove_part = expression.removeprefix("SET ").split(" REMOVE ")
    assignments = dict(part.split(" = ", 1) for part in set_part.split(", #"))
    assignments = {names["#" + key.lstrip("#")]: value for key, value in assignments.items()}
    only_if_absent = {name for name, value in assignments.items() if value.startswith("if_not_exists(")}
    assert only_if_absent == {said[3]}
    assert set(sets) == set(assignments) - only_if_absent
    assert set(removes) == {names[key.strip()] for key in remove_part.split(",")}
    lost = len(sets) + len(removes)  # "Values your worker writes under those seven names are lost"
    assert f"those {NUMBER_WORDS[lost]} names are lost" in doc
    assert record["Key"].keys() == {"jobId", "batchId"}  # the update's key: the worker's own row


# -- size budgets ----------------------------------------------------------------------------------------


def test_worker_size_budget_numbers_are_the_helpers():
    from burst_core.worker import ROW_WRITE_OVERHEAD_BYTES, STATE_OVERHEAD_BYTES, fits_inline, inline_limit

    text = section("## Worker", "### Output")
    formula = _formula("## Worker", "### Output")
    budget = re.search(r"output\s+<= ([\d,]+) - event - ([\d,]+)", formula)
    assert budget is not None
    state, overhead = number(budget[1]), number(budget[2])
    row = re.search(r"output as a JSON string\s+<= ([\d,]+) - ([\d,]+) = ([\d,]+)", formula)
    assert row is not None
    assert (state, overhead) == (STATE_PAYLOAD_LIMIT_BYTES, STATE_OVERHEAD_BYTES)
    assert (number(row[1]), number(row[2]), number(row[3])) == (
        STATE_PAYLOAD_LIMIT_BYTES,
        ROW_WRITE_OVERHEAD_BYTES,
        STATE_PAYLOAD_LIMIT_BYTES - ROW_WRITE_OVERHEAD_BYTES,
    )
    assert re.search(rf"at most {number(row[1]):,}\s+bytes \(256 KiB\)", text)
    worked = re.search(
        r"For the worker input above \(([\d,]+) bytes\) the output may have up to\s+"
        r"([\d,]+) - ([\d,]+) - ([\d,]+) = ([\d,]+) bytes",
        text,
    )
    assert worked is not None
    event = EXAMPLES["worker-input"]
    size = len(json.dumps(event, separators=(",", ":")).encode())
    assert [number(g) for g in worked.groups()] == [size, state, size, overhead, inline_limit(event)]
    # the limit is exact: an output of that many bytes fits, one more byte does not
    limit = inline_limit(event)
    assert fits_inline(event, "x" * (limit - 2)) and not fits_inline(event, "x" * (limit - 1))
    # and so is the row write's: n quotes and k x's are 6 + 4n + k bytes as a JSON string
    n = 64_510
    assert 6 + 4 * n + 2 == number(row[3])
    assert fits_inline(event, '"' * n + "xx") and not fits_inline(event, '"' * n + "xxx")


def test_combiner_size_budget_numbers_are_the_helpers():
    from burst_core.combiner import _JOB_FIELDS, RESULT_OVERHEAD_BYTES, Job

    text = section("### Output and the execution's result")
    formula = re.search(r"result <= ([\d,]+) - summary - ([\d,]+)", _formula("### Output and the execution's result"))
    assert formula is not None
    assert (number(formula[1]), number(formula[2])) == (STATE_PAYLOAD_LIMIT_BYTES, RESULT_OVERHEAD_BYTES)
    fields = re.search(
        r"`summary` is the size of the combiner input without the job's own fields \((.*?)\)", text, re.S
    )
    assert fields is not None
    job_fields = re.findall(r"`(\w+)`", fields[1])
    assert set(job_fields) == set(_JOB_FIELDS)
    # they are the fields the combiner input takes from the execution's input, not from the summary
    summary_keys = set(_summary_for(EXAMPLES["combiner-input-succeeded"], _succeeded_case()[0], _succeeded_case()[1]))
    assert set(job_fields) == payload_keys(lifecycle_states()["Combine"]) - summary_keys
    worked = re.search(
        r"a summary of ([\d,]+) bytes\) the result may have up to\s+([\d,]+) - ([\d,]+) - ([\d,]+) = ([\d,]+) bytes",
        text,
    )
    assert worked is not None
    event = EXAMPLES["combiner-input-succeeded"]
    summary = {key: value for key, value in event.items() if key not in job_fields}
    size = len(json.dumps(summary, separators=(",", ":")).encode())
    job = Job(event, s3=_Stored())
    assert [number(g) for g in worked.groups()] == [
        size,
        STATE_PAYLOAD_LIMIT_BYTES,
        size,
        RESULT_OVERHEAD_BYTES,
        job.result_limit(),
    ]
    limit = job.result_limit()
    assert job.store_result("x" * (limit - 2)) == "x" * (limit - 2)
    assert job.store_result("x" * (limit - 1)) == {
        "resultS3Uri": f"s3://{event['resultsBucket']}/results/{event['jobId']}/combiner-result.json",
        "resultBytes": limit + 1,
    }


class _Stored:
    def put_object(self, **kwargs: Any) -> None:
        pass


# -- the Python helpers' section -------------------------------------------------------------------------


def test_the_python_section_uses_the_layer_and_its_code_compiles():
    text = section("## Writing the worker and combiner in Python")
    code = re.search(r"```python\n(.*?)\n```", text, flags=re.S)
    assert code is not None
    compile(code[1], "docs/Interfaces.md", "exec")
    assert "`HelpersLayer`" in text and "`<stack>-HelpersLayer`" in text
    layers = re.findall(r"layers: \['\$\{cf:janelia-burst-compute-dev\.(\w+)\}'\]", text)
    assert layers and set(layers) == {"HelpersLayer"}
    handlers = set(re.findall(r"handler: search\.(\w+)", text))
    assert handlers == set(re.findall(r"^def (\w+)\(", code[1], flags=re.M)) - {"score"}
