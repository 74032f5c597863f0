"""Cost estimate against hand-computed figures; transition counts derived from the definition; prices."""

from __future__ import annotations

import copy
import json
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from burst_client import cost
from burst_client.cost import (
    CostError,
    concurrency_warning,
    estimate,
    function_key,
    item_size,
    load_definition,
    load_prices,
    workflow_paths,
)
from tests.conftest import ROOT

# prices.json (us-east-1): Lambda arm64 0.0000133334 per GB-s, 0.20 per 1M requests; Step Functions
# 0.025 per 1,000 transitions; DynamoDB on-demand 0.625 per 1M WRU, 0.125 per 1M RRU; S3 PUT 0.005 and
# GET 0.0004 per 1,000
GB_S = 0.0000133334
REQUEST = 0.20 / 1_000_000
TRANSITION = 0.025 / 1_000
WRU = 0.625 / 1_000_000
RRU = 0.125 / 1_000_000
PUT = 0.005 / 1_000
GET = 0.0004 / 1_000


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return load_definition()


def lines(report: cost.CostReport) -> dict[tuple[str, str], float]:
    return {(item.service, item.item): item.quantity for item in report.items}


def test_prices_file_names_region_currency_date_and_sources() -> None:
    data = json.loads(cost.PRICES_PATH.read_text())
    assert data["region"] == "us-east-1"
    assert data["currency"] == "USD"
    assert data["pricesAsOf"] and data["copiedOn"]
    assert "re-check" in data["recheck"]
    assert all(entry["source"] for entry in data["prices"].values())
    prices = load_prices()
    assert prices["lambda.gbSecondArm64"].unit_price == pytest.approx(GB_S)
    assert prices["lambda.request"].unit_price == pytest.approx(REQUEST)
    assert prices["stepfunctions.standardTransition"].unit_price == pytest.approx(TRANSITION)
    assert prices["dynamodb.onDemandWrite"].unit_price == pytest.approx(WRU)
    assert prices["dynamodb.onDemandRead"].unit_price == pytest.approx(RRU)
    assert prices["s3.put"].unit_price == pytest.approx(PUT)
    assert prices["s3.get"].unit_price == pytest.approx(GET)


def test_missing_price_or_bad_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CostError, match="no price 'nope'"):
        load_prices()["nope"]
    broken = tmp_path / "prices.json"
    broken.write_text("{}")
    with pytest.raises(CostError, match="cannot read prices"):
        load_prices(broken)


def test_framework_memory_sizes_match_serverless_yml() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    functions = yaml.load((ROOT / "serverless.yml").read_text(), Loader=Loader)["functions"]
    assert {name: spec["memorySize"] for name, spec in functions.items()} == cost.FRAMEWORK_MEMORY_MB


def test_row_overhead_by_hand() -> None:
    # attribute name bytes + value bytes of a typical row without results:
    #   jobId 5 + 36 (uuid) = 41          batchId 7 + 4 ("12345": ceil(5/2) + 1) = 11
    #   status 6 + 9 ("succeeded") = 15   ttl 3 + 6 ("1796168319": ceil(10/2) + 1) = 9
    #   startedAt 9 + 24 = 33             endedAt 7 + 24 = 31
    #   nresults 8 + 3 ("123": ceil(3/2) + 1) = 11
    #   resultsMimeType 15 + 16 ("application/json") = 31
    #   results 7 + 0 = 7                 total 189
    assert cost.ROW_OVERHEAD_BYTES == 189
    assert item_size(cost.template_row(1000)) == 1189


def test_item_size_of_each_type() -> None:
    assert item_size({"a": {"S": "héllo"}}) == 1 + 6  # UTF-8 bytes
    assert item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros trimmed: "1" -> 1 + 1
    assert item_size({"n": {"N": "-0.00123"}}) == 1 + 3  # "123" -> 2 + 1
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert cost.write_units(1024) == 1 and cost.write_units(1025) == 2 and cost.write_units(0) == 1
    assert cost.read_units(4096) == 1 and cost.read_units(4097) == 2 and cost.read_units(0) == 1


def test_paths_walked_from_step_functions_yml(definition: dict[str, Any]) -> None:
    paths = workflow_paths(definition)
    assert paths.map_state == "MapJobs"
    assert paths.prefix == ()
    assert paths.batch == ("StampStart", "BeforeDeadline", "ExecuteBatch", "PersistResults")
    assert paths.failed_batch == ("StampStart", "BeforeDeadline", "ExecuteBatch", "RecordFailure")
    assert paths.shortest_batch == ("StampStart", "BeforeDeadline", "PastDeadline")
    assert paths.round_loop == (
        "MapJobs",
        "CleanupBatchInput",
        "AreWeDone",
        "Monitor",
        "IsTimedOut",
        "DispatchNextBatches",
    )
    assert paths.final == (
        "MapJobs",
        "CleanupBatchInput",
        "AreWeDone",
        "Summarize",
        "CheckForErrors",
        "Combine",
        "JobSucceeded",
    )
    assert paths.functions["ExecuteBatch"] == "worker"
    assert paths.functions["PersistResults"] == "persist"
    assert paths.functions["Summarize"] == paths.functions["Monitor"] == "monitor"
    assert paths.functions["CombineError"] == "combiner"
    # 12 batches in 3 rounds: 12 * 4 + 2 * 6 + 7
    assert paths.transitions(12, 3) == 67


def test_estimate_by_hand(definition: dict[str, Any]) -> None:
    # 10,000 items in batches of 100 -> 100 batches; maxParallelism 5,000 -> 1 round.
    # Lambda (GB-s = requests x seconds x MB / 1024):
    #   worker    100 requests, 100 x 2.0 s x 1024/1024 = 200 GB-s
    #   persist   100 requests, 100 x 0.1 s x  512/1024 =   5 GB-s   (assumed 100 ms)
    #   dispatch    1 request,    1 x 0.5 s x 1024/1024 = 0.5 GB-s   (assumed 500 ms)
    #   monitor     1 request (Summarize; no progress between rounds), 0.3 s x 1 GB = 0.3 GB-s
    #   cleanup     1 request,    1 x 0.1 s x  128/1024 = 0.0125 GB-s
    #   combiner    1 request,    1 x 5.0 s x 1024/1024 = 5 GB-s    (defaults)
    #   dispatchNextBatches: never (one round) -> no line
    # Step Functions: 100 batches x 4 (StampStart, BeforeDeadline, ExecuteBatch, PersistResults)
    #   + 0 extra rounds x 6 + 7 (MapJobs .. Combine, JobSucceeded) = 407 transitions
    # DynamoDB: a row of 189 + 1,000 bytes = 1,189 -> 2 WRU; 100 rows -> 200 WRU
    #   reads: the summary and the combiner each read 100 x 1,189 = 118,900 bytes -> ceil(29.03) = 30 RRU -> 60
    # S3: PUT 1 batch file + 2 ResultWriter objects = 3; GET 1 (ItemReader); DELETE 1 (free)
    report = estimate(10_000, 100, 2_000, 1_024, definition=definition)
    expected = {
        ("Lambda", "worker requests"): 100,
        ("Lambda", "worker compute"): 200,
        ("Lambda", "persist requests"): 100,
        ("Lambda", "persist compute"): 5,
        ("Lambda", "dispatch requests"): 1,
        ("Lambda", "dispatch compute"): 0.5,
        ("Lambda", "monitor requests"): 1,
        ("Lambda", "monitor compute"): 0.3,
        ("Lambda", "cleanup requests"): 1,
        ("Lambda", "cleanup compute"): 0.0125,
        ("Lambda", "combiner requests"): 1,
        ("Lambda", "combiner compute"): 5,
        ("Step Functions", "state transitions"): 407,
        ("DynamoDB", "batch rows (PutItem)"): 200,
        ("DynamoDB", "row reads (Query)"): 60,
        ("S3", "batch files (PUT)"): 1,
        ("S3", "map results (PUT)"): 2,
        ("S3", "batch files (GET)"): 1,
        ("S3", "batch files (DELETE)"): 1,
    }
    assert lines(report) == pytest.approx(expected)
    # Costs:
    #   Lambda requests: (100 + 100 + 1 + 1 + 1 + 1) = 204 x 0.0000002 = 0.0000408
    #   Lambda compute: (200 + 5 + 0.5 + 0.3 + 0.0125 + 5) = 210.8125 GB-s x 0.0000133334 = 0.0028108474
    #   Step Functions: 407 x 0.000025 = 0.010175
    #   DynamoDB: 200 x 0.000000625 + 60 x 0.000000125 = 0.000125 + 0.0000075 = 0.0001325
    #   S3: 3 x 0.000005 + 1 x 0.0000004 = 0.0000154
    by_service = report.by_service()
    assert by_service["Lambda"] == pytest.approx(204 * REQUEST + 210.8125 * GB_S)
    assert by_service["Lambda"] == pytest.approx(0.0000408 + 0.0028108474, rel=1e-7)
    assert by_service["Step Functions"] == pytest.approx(0.010175)
    assert by_service["DynamoDB"] == pytest.approx(0.0001325)
    assert by_service["S3"] == pytest.approx(0.0000154)
    assert report.total == pytest.approx(0.0000408 + 0.0028108474 + 0.010175 + 0.0001325 + 0.0000154, rel=1e-7)
    assert report.facts["numBatches"] == 100 and report.facts["rounds"] == 1


def test_estimate_with_rounds_by_hand(definition: dict[str, Any]) -> None:
    # 60 items in batches of 5 -> 12 batches; 4 per round -> 3 rounds (4 rounds allowed: no enlargement)
    #   monitor: 2 progress checks + 1 summary = 3; dispatchNextBatches 2; cleanup 3; worker/persist 12
    #   transitions: 12 x 4 + 2 x 6 + 7 = 67
    #   reads: progress after round 1 reads 4 rows x 1,189 = 4,756 bytes -> 2 RRU; after round 2 8 rows
    #   = 9,512 -> 3 RRU; summary and combiner 12 rows = 14,268 -> 4 RRU each: 2 + 3 + 4 + 4 = 13
    #   S3: PUT 3 batch files + 6 ResultWriter objects; GET 3; DELETE 3
    report = estimate(60, 5, 100, 256, max_parallelism=4, max_rounds=4, definition=definition)
    got = lines(report)
    assert got[("Lambda", "worker requests")] == 12
    assert got[("Lambda", "worker compute")] == pytest.approx(12 * 0.1 * 0.25)
    assert got[("Lambda", "persist requests")] == 12
    assert got[("Lambda", "monitor requests")] == 3
    assert got[("Lambda", "dispatchNextBatches requests")] == 2
    assert got[("Lambda", "cleanup requests")] == 3
    assert got[("Lambda", "dispatch requests")] == 1
    assert got[("Lambda", "combiner requests")] == 1
    assert got[("Step Functions", "state transitions")] == 67
    assert got[("DynamoDB", "batch rows (PutItem)")] == 24
    assert got[("DynamoDB", "row reads (Query)")] == 13
    assert got[("S3", "batch files (PUT)")] == 3
    assert got[("S3", "map results (PUT)")] == 6
    assert got[("S3", "batch files (GET)")] == 3


def test_estimate_enlarges_the_batch_size_like_dispatch(definition: dict[str, Any]) -> None:
    # 1,000,000 items in batches of 10 = 100,000 batches > 1,000 per round: batch size becomes
    # ceil(1,000,000 / (2 rounds x 1,000)) = 500 -> 2,000 batches in 2 rounds
    report = estimate(1_000_000, 10, 1_000, 512, max_parallelism=1_000, definition=definition)
    assert (report.facts["batchSize"], report.facts["numBatches"], report.facts["rounds"]) == (500, 2_000, 2)
    assert any("from 10 to 500" in text for text in report.assumptions)


def test_results_too_large_for_a_row_are_spilled(definition: dict[str, Any]) -> None:
    # a row with a pointer instead of results: 189 - 7 ("results") + 12 ("resultsS3Uri") + 100 = 294 bytes
    report = estimate(1_000, 100, 1_000, 1_024, result_bytes=400_000, definition=definition)
    got = lines(report)
    assert got[("DynamoDB", "batch rows (PutItem)")] == 10
    assert got[("S3", "spilled results (PUT)")] == 10
    assert got[("S3", "spilled results (GET)")] == 10


def test_per_batch_transitions_follow_the_definition(definition: dict[str, Any]) -> None:
    base = estimate(10_000, 100, 2_000, 1_024, definition=definition)
    changed = copy.deepcopy(definition)
    children = changed["States"]["MapJobs"]["ItemProcessor"]["States"]
    children["ExecuteBatch"]["Next"] = "Audit"
    children["Audit"] = {"Type": "Pass", "Next": "PersistResults"}
    assert workflow_paths(changed).batch == ("StampStart", "BeforeDeadline", "ExecuteBatch", "Audit", "PersistResults")
    more = estimate(10_000, 100, 2_000, 1_024, definition=changed)
    transitions = ("Step Functions", "state transitions")
    assert lines(more)[transitions] == lines(base)[transitions] + 100  # one more per batch
    assert more.facts["transitionsPerBatch"] == 5

    fewer = copy.deepcopy(definition)
    fewer["States"]["MapJobs"]["ItemProcessor"]["States"]["StampStart"]["Next"] = "ExecuteBatch"
    assert workflow_paths(fewer).batch == ("StampStart", "ExecuteBatch", "PersistResults")


def test_round_transitions_follow_the_definition(definition: dict[str, Any]) -> None:
    changed = copy.deepcopy(definition)
    changed["States"]["IsTimedOut"]["Default"] = "Pause"
    changed["States"]["Pause"] = {"Type": "Wait", "Seconds": 1, "Next": "DispatchNextBatches"}
    assert len(workflow_paths(changed).round_loop) == 7
    # 12 batches in 3 rounds: 12 x 4 + 2 x 7 + 7 = 69 (was 67)
    assert workflow_paths(changed).transitions(12, 3) == 69


def test_deployed_definition_with_function_arns_walks_the_same(definition: dict[str, Any]) -> None:
    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("Fn::GetAtt"), list):
                key = function_key(node)
                return f"arn:aws:lambda:us-east-1:123456789012:function:myorg-burst-compute-prod-{key}"
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    assert workflow_paths(resolve(definition)) == workflow_paths(definition)


def test_function_keys() -> None:
    assert function_key("$.workerFunctionName") == "worker"
    assert function_key("$.combinerFunctionName") == "combiner"
    assert function_key({"Fn::GetAtt": ["DispatchNextBatchesLambdaFunction", "Arn"]}) == "dispatchNextBatches"
    assert function_key("arn:aws:lambda:us-east-1:1:function:janelia-burst-compute-dev-dispatchNextBatches") == (
        "dispatchNextBatches"
    )
    assert function_key("arn:aws:lambda:us-east-1:1:function:janelia-burst-compute-dev-dispatch:live") == "dispatch"
    assert function_key("janelia-burst-compute-dev-persist") == "persist"
    assert function_key("someone-elses-function") == "someone-elses-function"


def test_a_definition_without_a_map_or_worker_is_refused(definition: dict[str, Any]) -> None:
    with pytest.raises(CostError, match="no Map state"):
        workflow_paths({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    changed = copy.deepcopy(definition)
    changed["States"]["MapJobs"]["ItemProcessor"]["States"]["ExecuteBatch"]["Parameters"]["FunctionName.$"] = "$.x"
    with pytest.raises(CostError, match="workerFunctionName"):
        workflow_paths(changed)


def test_bad_estimate_input_is_a_clear_error(definition: dict[str, Any]) -> None:
    with pytest.raises(CostError, match="items must be positive"):
        estimate(0, 100, 1_000, 1_024, definition=definition)
    with pytest.raises(CostError, match="batch_size must be positive"):
        estimate(10, 0, 1_000, 1_024, definition=definition)


def test_report_as_dict_and_table(definition: dict[str, Any]) -> None:
    report = estimate(10_000, 100, 2_000, 1_024, definition=definition)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["kind"] == "estimate"
    assert data["region"] == "us-east-1" and data["currency"] == "USD"
    assert data["total"] == pytest.approx(sum(item["cost"] for item in data["items"]))
    assert {"service", "item", "quantity", "unit", "unitPrice", "cost"} <= set(data["items"][0])
    table = report.table()
    assert "TOTAL" in table and "USD" in table and "state transitions" in table
    assert "0.0000133334" in table  # unit prices in plain decimals
    assert "re-check" in table


def lambda_client() -> Any:
    return boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def account_settings(unreserved: int) -> dict[str, Any]:
    return {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": unreserved,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def test_concurrency_warning_when_max_parallelism_exceeds_unreserved_concurrency() -> None:
    client = lambda_client()
    with Stubber(client) as stub:
        stub.add_response("get_account_settings", account_settings(900))
        stub.add_response("get_account_settings", account_settings(900))
        warning = concurrency_warning(client, 5_000)
        assert warning is not None
        assert "5000" in warning and "(900)" in warning and "us-east-1" in warning
        assert concurrency_warning(client, 900) is None


def test_concurrency_warning_is_none_when_the_limit_cannot_be_read(caplog) -> None:
    client = lambda_client()
    with Stubber(client) as stub:
        stub.add_client_error("get_account_settings", service_error_code="AccessDeniedException", http_status_code=403)
        assert concurrency_warning(client, 5_000) is None
    assert "GetAccountSettings" in caplog.text
