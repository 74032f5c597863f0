"""Cost estimate against hand-computed figures; transitions derived from the definition; prices; actual()."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from burst_client import cost
from burst_client.cost import (
    CostError,
    definition_for,
    estimate,
    function_key,
    load_definition,
    load_definitions,
    load_prices,
    workflow_paths,
)
from burst_client.facts import JobFacts
from burst_core.orchestration import EXPRESS_MAX_WORKER_TIMEOUT_SECS, ExecutionType
from burst_core.persistence import decode_record, item_size
from tests.support import JOB, ROOT, History, deferred_row, fake_stack, job_input, row

# prices.json (us-east-1): Lambda arm64 0.0000133334 per GB-s, 0.20 per 1M requests; Step Functions
# 0.025 per 1,000 transitions, Express 1.00 per 1M requests and 0.06 per GB-hour; DynamoDB on-demand
# 0.625 per 1M WRU, 0.125 per 1M RRU; S3 PUT 0.005 and GET 0.0004 per 1,000
GB_S = 0.0000133334
REQUEST = 0.20 / 1_000_000
TRANSITION = 0.025 / 1_000
EXPRESS_REQUEST = 1.00 / 1_000_000
EXPRESS_GB_S = 0.06 / 3600  # 0.0000166667
WRU = 0.625 / 1_000_000
RRU = 0.125 / 1_000_000
PUT = 0.005 / 1_000
GET = 0.0004 / 1_000
PRICING_PAGE = "https://aws.amazon.com/step-functions/pricing/"

BATCH_PATH = ("BeforeDeadline", "ExecuteBatch", "RecordResult")


@pytest.fixture(scope="module")
def definitions() -> list[dict[str, Any]]:
    return list(load_definitions().values())


@pytest.fixture(scope="module")
def standard(definitions: list[dict[str, Any]]) -> dict[str, Any]:
    return definition_for(ExecutionType.STANDARD, definitions)


def lines(report: cost.CostReport) -> dict[tuple[str, str], float]:
    return {(item.service, item.item): item.quantity for item in report.items}


# -- prices --------------------------------------------------------------------------------------------
def test_prices_file_names_region_currency_date_and_sources() -> None:
    data = json.loads(cost.PRICES_PATH.read_text())
    assert data["region"] == "us-east-1"
    assert data["currency"] == "USD"
    assert data["pricesAsOf"] and data["copiedOn"]
    assert "WITHOUT network access" in data["recheck"] and "re-check" in data["recheck"]
    assert all(entry["source"] for entry in data["prices"].values())
    prices = load_prices()
    assert prices["lambda.gbSecondArm64"].unit_price == pytest.approx(GB_S)
    assert prices["lambda.request"].unit_price == pytest.approx(REQUEST)
    assert prices["stepfunctions.standardTransition"].unit_price == pytest.approx(TRANSITION)
    assert prices["stepfunctions.expressRequest"].unit_price == pytest.approx(EXPRESS_REQUEST)
    assert prices["stepfunctions.expressGbSecond"].unit_price == pytest.approx(0.00001667, rel=1e-3)
    assert prices["dynamodb.onDemandWrite"].unit_price == pytest.approx(WRU)
    assert prices["dynamodb.onDemandRead"].unit_price == pytest.approx(RRU)
    assert prices["s3.put"].unit_price == pytest.approx(PUT)
    assert prices["s3.get"].unit_price == pytest.approx(GET)


def test_express_prices_cite_the_pricing_page_with_tiers_and_billing_rules() -> None:
    data = json.loads(cost.PRICES_PATH.read_text())
    duration = data["prices"]["stepfunctions.expressGbSecond"]
    for key in ("stepfunctions.standardTransition", "stepfunctions.expressRequest", "stepfunctions.expressGbSecond"):
        assert PRICING_PAGE in data["prices"][key]["source"]
    assert "per GB-hour" in duration["source"] and "first tier" in duration["source"]
    assert [tier["pricePerGbHour"] for tier in duration["tiers"]] == [0.06, 0.03, 0.01642]
    assert "re-check" in duration["note"] and "without network access" in duration["note"]
    rule = data["rules"]["stepfunctions.express"]
    assert (rule["durationRoundingMs"], rule["memoryChunkMb"], rule["baseMemoryMb"]) == (100, 64, 50)
    assert PRICING_PAGE in rule["source"] and "64-MB chunks" in rule["source"]
    billing = load_prices().express_billing()
    assert (billing.rounding_ms, billing.chunk_mb, billing.base_mb) == (100, 64, 50)


def test_missing_price_rule_or_bad_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(CostError, match="no price 'nope'"):
        load_prices()["nope"]
    broken = tmp_path / "prices.json"
    broken.write_text("{}")
    with pytest.raises(CostError, match="cannot read prices"):
        load_prices(broken)
    data = json.loads(cost.PRICES_PATH.read_text())
    del data["rules"]
    without_rules = tmp_path / "no-rules.json"
    without_rules.write_text(json.dumps(data))
    with pytest.raises(CostError, match=r"rules\.stepfunctions\.express"):
        estimate(10_000, 100, 2_000, 1_024, prices=load_prices(without_rules))


def test_express_billing_rounds_duration_and_memory_up() -> None:
    billing = load_prices().express_billing()
    assert [billing.billed_ms(ms) for ms in (0, 1, 100, 2000, 2001, 2100.5)] == [100, 100, 100, 2000, 2100, 2200]
    mib = 1024 * 1024
    # 50 MB + definition + data: up to 64 MB is one chunk, a byte more is two
    assert billing.chunks(14_000, 1_500) == 1
    assert billing.chunks(14 * mib, 0) == 1
    assert billing.chunks(14 * mib, 1) == 2
    # 2,100 ms x one 64 MB chunk = 2.1 s x 0.0625 GB
    assert billing.gb_seconds(2_050, 1) == pytest.approx(0.13125)


def test_framework_memory_sizes_match_serverless_yml() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    functions = yaml.load((ROOT / "serverless.yml").read_text(), Loader=Loader)["functions"]
    assert {name: spec["memorySize"] for name, spec in functions.items()} == cost.FRAMEWORK_MEMORY_MB


# -- rows ------------------------------------------------------------------------------------------------
def test_row_overhead_by_hand() -> None:
    # attribute name bytes + value bytes of a row as RecordResult writes it, with no results:
    #   jobId 5 + 36 (uuid) = 41          batchId 7 + 4 ("12345": ceil(5/2) + 1) = 11
    #   status 6 + 9 ("succeeded") = 15   startedAt 9 + 24 = 33     endedAt 7 + 24 = 31
    #   attempt 7 + 2 ("0") = 9           ttl 3 + 6 ("1796168319": ceil(10/2) + 1) = 9
    #   requestId 9 + 36 (uuid) = 45
    #   output 6 + 29 ('{"results":"","nresults":123}') = 35
    #   total 229
    assert cost.worker_output(0) == '{"results":"","nresults":123}'
    assert cost.ROW_OVERHEAD_BYTES == 229
    # 1,000 bytes of results (a JSON string, its quotes included) replace the 2 of ""
    assert item_size(cost.template_row(cost.worker_output(1000))) == 1227


def test_item_size_of_each_type() -> None:
    assert item_size({"a": {"S": "héllo"}}) == 1 + 6  # UTF-8 bytes
    assert item_size({"n": {"N": "1000"}}) == 1 + 2  # trailing zeros trimmed: "1" -> 1 + 1
    assert item_size({"n": {"N": "-0.00123"}}) == 1 + 3  # "123" -> 2 + 1
    assert item_size({"b": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "1"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert cost.write_units(1024) == 1 and cost.write_units(1025) == 2 and cost.write_units(0) == 1
    assert cost.read_units(4096) == 1 and cost.read_units(4097) == 2 and cost.read_units(0) == 1


# -- the definition walk -----------------------------------------------------------------------------------
def test_step_functions_yml_has_a_state_machine_per_child_workflow_type(definitions: list[dict[str, Any]]) -> None:
    kinds = {kind for definition in definitions for kind in cost.batch_maps(definition).values()}
    assert kinds == {ExecutionType.EXPRESS, ExecutionType.STANDARD}
    assert load_definition(execution_type="EXPRESS") == definition_for(ExecutionType.EXPRESS, definitions)
    assert cost.batch_maps(load_definition(execution_type="express")) == {"MapJobs": ExecutionType.EXPRESS}


@pytest.mark.parametrize("kind", list(ExecutionType))
def test_paths_walked_from_step_functions_yml(definitions: list[dict[str, Any]], kind: ExecutionType) -> None:
    paths = workflow_paths(definition_for(kind, definitions), kind)
    assert (paths.map_state, paths.execution_type) == ("MapJobs", kind)
    assert paths.prefix == ()
    assert paths.round_loop == ("MapJobs", "DispatchNextBatches", "AnotherRound")
    assert paths.final == (
        "MapJobs",
        "DispatchNextBatches",
        "AnotherRound",
        "Summarize",
        "CheckForErrors",
        "Combine",
        "JobSucceeded",
    )
    assert paths.batch == BATCH_PATH
    assert paths.failed_batch == ("BeforeDeadline", "ExecuteBatch", "RecordFailure", "BatchFailed")
    assert paths.throttled_batch == ("BeforeDeadline", "ExecuteBatch", "RetryThrottled", "ThrottledGate", "Defer")
    assert paths.retry_loop == (
        "ExecuteBatch",
        "RetryThrottled",
        "ThrottledGate",
        "RampWait",
        "Backoff",
        "BeforeDeadline",
    )
    assert paths.shortest_batch == ("BeforeDeadline", "PastDeadline")
    assert paths.row_writes == {"RecordResult", "RecordFailure", "Defer"}
    assert paths.row_writes_per_batch == 1
    assert paths.functions["ExecuteBatch"] == "worker"
    assert paths.functions["DispatchNextBatches"] == "dispatchNextBatches"
    assert paths.functions["Summarize"] == "monitor"
    assert paths.functions["CombineError"] == paths.functions["Combine"] == "combiner"
    assert "RecordResult" not in paths.functions  # a DynamoDB integration, not a Lambda
    # 12 batches in 3 rounds: 12 x 3 + 2 x 3 + 7
    assert paths.transitions(12, 3) == 49
    assert paths.invocations(12, 3) == {"worker": 12, "dispatchNextBatches": 3, "monitor": 1, "combiner": 1}


def two_maps_one_definition(standard: dict[str, Any]) -> dict[str, Any]:
    """One state machine choosing between two batch Map states that share one item processor."""
    changed = copy.deepcopy(standard)
    states = changed["States"]
    standard_map = states.pop("MapJobs")
    express_map = copy.deepcopy(standard_map)
    express_map["ItemProcessor"] = {
        **standard_map["ItemProcessor"],
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
    }
    states["ChooseBatchWorkflow"] = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.batchExecutionType", "StringEquals": "EXPRESS", "Next": "ExpressBatches"}],
        "Default": "StandardBatches",
    }
    states["ExpressBatches"], states["StandardBatches"] = express_map, standard_map
    states["AnotherRound"]["Choices"][0]["Next"] = "ChooseBatchWorkflow"
    changed["StartAt"] = "ChooseBatchWorkflow"
    return changed


def test_two_map_states_sharing_one_item_processor(standard: dict[str, Any]) -> None:
    both = two_maps_one_definition(standard)
    assert cost.batch_maps(both) == {"ExpressBatches": ExecutionType.EXPRESS, "StandardBatches": ExecutionType.STANDARD}
    for kind, name in ((ExecutionType.EXPRESS, "ExpressBatches"), (ExecutionType.STANDARD, "StandardBatches")):
        paths = workflow_paths(both, kind)
        assert (paths.map_state, paths.execution_type) == (name, kind)
        assert paths.prefix == ("ChooseBatchWorkflow",)
        assert paths.round_loop == (name, "DispatchNextBatches", "AnotherRound", "ChooseBatchWorkflow")
        assert paths.final[0] == name and paths.final[-2:] == ("Combine", "JobSucceeded")
        assert paths.batch == BATCH_PATH
        assert paths.parent_transitions(1) == 8
    assert definition_for(ExecutionType.EXPRESS, both) == both
    report = estimate(10_000, 100, 2_000, 1_024, definition=both)
    assert lines(report)[("Step Functions", "state transitions (job)")] == 8
    assert lines(report.alternatives["STANDARD"])[("Step Functions", "state transitions (batches)")] == 300


def test_a_definition_of_one_type_is_priced_as_the_other_with_its_type_changed(standard: dict[str, Any]) -> None:
    express = definition_for(ExecutionType.EXPRESS, standard)
    assert cost.batch_maps(express) == {"MapJobs": ExecutionType.EXPRESS}
    assert cost.batch_maps(standard) == {"MapJobs": ExecutionType.STANDARD}  # not changed in place
    assert workflow_paths(express, "EXPRESS").batch == workflow_paths(standard, "STANDARD").batch
    with pytest.raises(CostError, match="no Map state with EXPRESS"):
        workflow_paths(standard, "EXPRESS")


def test_per_batch_transitions_follow_the_definition(standard: dict[str, Any]) -> None:
    base = estimate(10_000, 100, 2_000, 1_024, execution_type="STANDARD", definition=standard)
    changed = copy.deepcopy(standard)
    children = changed["States"]["MapJobs"]["ItemProcessor"]["States"]
    children["ExecuteBatch"]["Next"] = "Audit"
    children["Audit"] = {"Type": "Pass", "Next": "RecordResult"}
    assert workflow_paths(changed).batch == ("BeforeDeadline", "ExecuteBatch", "Audit", "RecordResult")
    more = estimate(10_000, 100, 2_000, 1_024, execution_type="STANDARD", definition=changed)
    transitions = ("Step Functions", "state transitions (batches)")
    assert lines(more)[transitions] == lines(base)[transitions] + 100  # one more per batch
    assert more.facts["transitionsPerBatch"] == 4

    fewer = copy.deepcopy(standard)
    fewer["States"]["MapJobs"]["ItemProcessor"]["StartAt"] = "ExecuteBatch"
    assert workflow_paths(fewer).batch == ("ExecuteBatch", "RecordResult")


def test_row_writes_per_batch_follow_the_definition(standard: dict[str, Any]) -> None:
    changed = copy.deepcopy(standard)
    children = changed["States"]["MapJobs"]["ItemProcessor"]["States"]
    children["RecordResult"].pop("End")
    children["RecordResult"]["Next"] = "Audit"
    children["Audit"] = {**children["RecordResult"], "Resource": "arn:aws:states:::dynamodb:putItem", "End": True}
    children["Audit"].pop("Next")
    paths = workflow_paths(changed)
    assert paths.batch == (*BATCH_PATH, "Audit")
    assert paths.row_writes_per_batch == 2
    report = estimate(10_000, 100, 2_000, 1_024, execution_type="STANDARD", definition=changed)
    assert lines(report)[("DynamoDB", "batch rows (writes)")] == 100 * 2 * 2  # 2 writes of 2 WRU per batch


def test_round_transitions_follow_the_definition(standard: dict[str, Any]) -> None:
    changed = copy.deepcopy(standard)
    changed["States"]["AnotherRound"]["Choices"][0]["Next"] = "Pause"
    changed["States"]["Pause"] = {"Type": "Wait", "Seconds": 1, "Next": "MapJobs"}
    assert workflow_paths(changed).round_loop == ("MapJobs", "DispatchNextBatches", "AnotherRound", "Pause")
    # 12 batches in 3 rounds: 12 x 3 + 2 x 4 + 7 = 51 (was 49)
    assert workflow_paths(changed).transitions(12, 3) == 51


def test_deployed_definition_with_function_arns_walks_the_same(definitions: list[dict[str, Any]]) -> None:
    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("Fn::GetAtt"), list):
                key = function_key(node)
                return f"arn:aws:lambda:us-east-1:123456789012:function:myorg-burst-compute-prod-{key}"
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    for definition in definitions:
        assert workflow_paths(resolve(definition)) == workflow_paths(definition)


def test_function_keys() -> None:
    assert function_key("$.workerFunctionName") == "worker"
    assert function_key("$$.Execution.Input.combinerFunctionName") == "combiner"
    assert function_key({"Fn::GetAtt": ["DispatchNextBatchesLambdaFunction", "Arn"]}) == "dispatchNextBatches"
    assert function_key({"Fn::GetAtt": ["MonitorLambdaFunction", "Arn"]}) == "monitor"
    assert function_key("arn:aws:lambda:us-east-1:1:function:janelia-burst-compute-dev-dispatchNextBatches") == (
        "dispatchNextBatches"
    )
    assert function_key("arn:aws:lambda:us-east-1:1:function:janelia-burst-compute-dev-dispatch:live") == "dispatch"
    assert function_key("janelia-burst-compute-dev-monitor") == "monitor"
    assert function_key("someone-elses-function") == "someone-elses-function"


def test_a_definition_without_a_map_or_worker_is_refused(standard: dict[str, Any]) -> None:
    with pytest.raises(CostError, match="no Map state"):
        workflow_paths({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
    changed = copy.deepcopy(standard)
    changed["States"]["MapJobs"]["ItemProcessor"]["States"]["ExecuteBatch"]["Parameters"]["FunctionName.$"] = "$.x"
    with pytest.raises(CostError, match="workerFunctionName"):
        workflow_paths(changed)


# -- estimate ----------------------------------------------------------------------------------------------
def test_the_reference_job_runs_as_express_under_ten_cents() -> None:
    # burst cost --estimate --items 200000 --batch-size 40 --worker-ms 2000 --worker-mb 512 --max-parallelism 5000
    report = estimate(200_000, 40, 2_000, 512, max_parallelism=5_000)
    assert report.execution_type == report.facts["batchExecutionType"] == "EXPRESS"
    assert (report.facts["numBatches"], report.facts["rounds"], report.facts["workerTimeoutSecs"]) == (5_000, 1, 6)
    assert report.total <= 0.10
    assert report.by_service()["Step Functions"] <= 0.02
    # by hand: 5,000 requests x $1/M + 5,000 x 2.1 s x 0.0625 GB x $0.06/GB-hour + 7 parent transitions
    assert report.by_service()["Step Functions"] == pytest.approx(
        5_000 * EXPRESS_REQUEST + 5_000 * 2.1 * 0.0625 * EXPRESS_GB_S + 7 * TRANSITION
    )
    standard = report.alternatives["STANDARD"]
    assert standard.by_service()["Step Functions"] == pytest.approx((5_000 * 3 + 7) * TRANSITION)
    assert standard.total > 4 * report.total
    assert set(report.alternatives) == {"EXPRESS", "STANDARD"} and report.alternatives["EXPRESS"] is report


def test_estimate_by_hand() -> None:
    # 10,000 items in batches of 100 -> 100 batches; maxParallelism 5,000 -> 1 round. Worker timeout
    # assumed 3 x ceil(2,000 ms / 1,000) = 6 s <= 110 s: EXPRESS.
    # Lambda (GB-s = requests x seconds x MB / 1024):
    #   worker               100 requests, 100 x 2.0 s x 1024/1024 = 200 GB-s
    #   dispatch               1 request,    1 x 0.5 s x 1 GB       = 0.5 GB-s  (assumed 500 ms)
    #   dispatchNextBatches    1 request (once per round),  0.3 s   = 0.3 GB-s  (assumed 300 ms)
    #   monitor                1 request (Summarize),       1.0 s   = 1 GB-s    (assumed 1,000 ms)
    #   combiner               1 request,    1 x 5.0 s x 1 GB       = 5 GB-s    (defaults)
    # Step Functions: the parent enters MapJobs, DispatchNextBatches, AnotherRound, Summarize,
    #   CheckForErrors, Combine, JobSucceeded = 7 transitions; EXPRESS children: 100 requests and
    #   100 x ceil((2,000 + 100 ms) / 100 ms) x 100 ms = 2.1 s x one 64 MB chunk (0.0625 GB) = 13.125 GB-s
    # DynamoDB: a row of 229 + 998 = 1,227 bytes -> 2 WRU; 100 rows -> 200 WRU
    #   reads: the summary, the combiner and dispatchNextBatches (the round's 100 rows) each read
    #   100 x 1,227 = 122,700 bytes -> ceil(29.96) = 30 RRU
    # S3: PUT 1 batch file + 2 ResultWriter objects + 1 summary; GET 1 (ItemReader); DELETE 1 (free)
    report = estimate(10_000, 100, 2_000, 1_024)
    expected = {
        ("Lambda", "worker requests"): 100,
        ("Lambda", "worker compute"): 200,
        ("Lambda", "dispatch requests"): 1,
        ("Lambda", "dispatch compute"): 0.5,
        ("Lambda", "dispatchNextBatches requests"): 1,
        ("Lambda", "dispatchNextBatches compute"): 0.3,
        ("Lambda", "monitor requests"): 1,
        ("Lambda", "monitor compute"): 1,
        ("Lambda", "combiner requests"): 1,
        ("Lambda", "combiner compute"): 5,
        ("Step Functions", "state transitions (job)"): 7,
        ("Step Functions", "express requests (batches)"): 100,
        ("Step Functions", "express duration (batches)"): 13.125,
        ("DynamoDB", "batch rows (writes)"): 200,
        ("DynamoDB", "row reads (summary)"): 30,
        ("DynamoDB", "row reads (combiner)"): 30,
        ("DynamoDB", "row reads (next round)"): 30,
        ("S3", "batch files (PUT)"): 1,
        ("S3", "map results (PUT)"): 2,
        ("S3", "summary (PUT)"): 1,
        ("S3", "batch files (GET)"): 1,
        ("S3", "batch files (DELETE)"): 1,
    }
    assert lines(report) == pytest.approx(expected)
    # Costs:
    #   Lambda requests: 104 x 0.0000002 = 0.0000208
    #   Lambda compute: 206.8 GB-s x 0.0000133334 = 0.00275734712
    #   Step Functions: 7 x 0.000025 + 100 x 0.000001 + 13.125 x 0.06 / 3600 = 0.000175 + 0.0001 + 0.00021875
    #   DynamoDB: 200 x 0.000000625 + 90 x 0.000000125 = 0.000125 + 0.00001125
    #   S3: 4 x 0.000005 + 1 x 0.0000004 = 0.0000204
    by_service = report.by_service()
    assert by_service["Lambda"] == pytest.approx(0.0000208 + 0.00275734712, rel=1e-7)
    assert by_service["Step Functions"] == pytest.approx(0.00049375)
    assert by_service["DynamoDB"] == pytest.approx(0.00013625)
    assert by_service["S3"] == pytest.approx(0.0000204)
    assert report.total == pytest.approx(0.0000208 + 0.00275734712 + 0.00049375 + 0.00013625 + 0.0000204, rel=1e-7)
    assert (report.facts["numBatches"], report.facts["rounds"]) == (100, 1)
    assert (report.facts["expressBilledMs"], report.facts["expressMemoryChunks"]) == (2100, 1)

    # the same job with STANDARD children: 3 transitions per batch instead of requests and duration
    standard = report.alternatives["STANDARD"]
    assert lines(standard)[("Step Functions", "state transitions (batches)")] == 300
    assert ("Step Functions", "express requests (batches)") not in lines(standard)
    assert standard.by_service()["Step Functions"] == pytest.approx(307 * TRANSITION)
    for service in ("Lambda", "DynamoDB", "S3"):
        assert standard.by_service()[service] == pytest.approx(by_service[service])


def test_estimate_with_rounds_by_hand() -> None:
    # 60 items in batches of 5 -> 12 batches; 4 per round -> 3 rounds (4 rounds allowed: no enlargement)
    #   dispatchNextBatches 3 (after every round); monitor 1 (Summarize); worker 12
    #   parent transitions: 7 + 2 further rounds x 3 (MapJobs, DispatchNextBatches, AnotherRound) = 13
    #   EXPRESS: 12 x ceil(100 + 100 ms) = 0.2 s x 0.0625 GB = 0.15 GB-s; STANDARD: 12 x 3 = 36 transitions
    #   reads: summary and combiner 12 rows x 1,227 = 14,724 bytes -> 4 RRU each; dispatchNextBatches
    #   4 rows a round = 4,908 bytes -> 2 RRU, 3 rounds -> 6
    #   S3: PUT 3 batch files + 6 ResultWriter objects + 1 summary; GET 3; DELETE 3
    report = estimate(60, 5, 100, 256, max_parallelism=4, max_rounds=4)
    got = lines(report)
    assert report.execution_type == "EXPRESS"
    assert got[("Lambda", "worker requests")] == 12
    assert got[("Lambda", "worker compute")] == pytest.approx(12 * 0.1 * 0.25)
    assert got[("Lambda", "dispatchNextBatches requests")] == 3
    assert got[("Lambda", "monitor requests")] == 1
    assert got[("Lambda", "dispatch requests")] == 1
    assert got[("Lambda", "combiner requests")] == 1
    assert got[("Step Functions", "state transitions (job)")] == 13
    assert got[("Step Functions", "express requests (batches)")] == 12
    assert got[("Step Functions", "express duration (batches)")] == pytest.approx(0.15)
    assert lines(report.alternatives["STANDARD"])[("Step Functions", "state transitions (batches)")] == 36
    assert got[("DynamoDB", "batch rows (writes)")] == 24
    assert got[("DynamoDB", "row reads (summary)")] == 4
    assert got[("DynamoDB", "row reads (combiner)")] == 4
    assert got[("DynamoDB", "row reads (next round)")] == 6
    assert got[("S3", "batch files (PUT)")] == 3
    assert got[("S3", "map results (PUT)")] == 6
    assert got[("S3", "summary (PUT)")] == 1
    assert got[("S3", "batch files (GET)")] == 3
    assert got[("S3", "batch files (DELETE)")] == 3


def test_the_execution_type_is_dispatchs_choice() -> None:
    assert cost.default_worker_timeout_secs(2_000) == 6
    assert cost.default_worker_timeout_secs(2_001) == 9
    assert cost.default_worker_timeout_secs(0) == 1
    fits = estimate(1_000, 10, 100, 256, worker_timeout_secs=EXPRESS_MAX_WORKER_TIMEOUT_SECS)
    assert fits.execution_type == "EXPRESS"
    assert "fits an EXPRESS child" in fits.assumptions[0]
    too_long = estimate(1_000, 10, 100, 256, worker_timeout_secs=EXPRESS_MAX_WORKER_TIMEOUT_SECS + 1)
    assert too_long.execution_type == "STANDARD"
    assert "does not fit" in too_long.assumptions[0]
    assert any("not possible for this worker" in text for text in too_long.alternatives["EXPRESS"].assumptions)
    # a forced type, as batchExecutionType asks for it
    forced = estimate(1_000, 10, 100, 256, execution_type="standard")
    assert forced.execution_type == "STANDARD" and "was asked for" in forced.assumptions[0]
    with pytest.raises(CostError, match="use STANDARD"):
        estimate(1_000, 10, 100, 256, worker_timeout_secs=900, execution_type=ExecutionType.EXPRESS)


def test_estimate_enlarges_the_batch_size_like_dispatch() -> None:
    # 1,000,000 items in batches of 10 = 100,000 batches > 1,000 per round: batch size becomes
    # ceil(1,000,000 / (2 rounds x 1,000)) = 500 -> 2,000 batches in 2 rounds
    report = estimate(1_000_000, 10, 1_000, 512, max_parallelism=1_000)
    assert (report.facts["batchSize"], report.facts["numBatches"], report.facts["rounds"]) == (500, 2_000, 2)
    assert any("from 10 to 500" in text for text in report.assumptions)


def test_results_that_do_not_fit_in_the_state_are_stored_in_s3_by_the_worker() -> None:
    # 200,000 bytes fit in the batch's 256 KiB state: the row holds them (ceil(200,182 / 1,024) = 196 WRU)
    inline = lines(estimate(1_000, 100, 1_000, 1_024, result_bytes=200_000))
    assert inline[("DynamoDB", "batch rows (writes)")] == 10 * 196
    assert ("S3", "results in S3 (PUT)") not in inline
    # 300,000 do not: the worker stores them and returns their URI (a row of under 1 KB)
    stored = lines(estimate(1_000, 100, 1_000, 1_024, result_bytes=300_000))
    assert stored[("DynamoDB", "batch rows (writes)")] == 10
    assert stored[("S3", "results in S3 (PUT)")] == 10
    assert stored[("S3", "results in S3 (GET)")] == 10


def test_bad_estimate_input_is_a_clear_error() -> None:
    with pytest.raises(CostError, match="items must be positive"):
        estimate(0, 100, 1_000, 1_024)
    with pytest.raises(CostError, match="batch_size must be positive"):
        estimate(10, 0, 1_000, 1_024)
    with pytest.raises(CostError, match="worker_timeout_secs must be positive"):
        estimate(10, 1, 1_000, 1_024, worker_timeout_secs=0)


def test_report_as_dict_and_table() -> None:
    report = estimate(10_000, 100, 2_000, 1_024)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["kind"] == "estimate"
    assert data["region"] == "us-east-1" and data["currency"] == "USD"
    assert data["total"] == pytest.approx(sum(item["cost"] for item in data["items"]))
    assert {"service", "item", "quantity", "unit", "unitPrice", "cost"} <= set(data["items"][0])
    assert data["batchExecutionType"] == "EXPRESS"
    assert data["executionTypes"]["EXPRESS"]["used"] is True
    assert data["executionTypes"]["STANDARD"]["used"] is False
    assert data["executionTypes"]["EXPRESS"]["total"] == pytest.approx(data["total"])
    assert data["executionTypes"]["STANDARD"]["total"] > data["total"]
    table = report.table()
    assert "TOTAL" in table and "USD" in table and "express duration (batches)" in table
    assert "0.0000133334" in table  # unit prices in plain decimals
    assert "By child workflow type" in table
    (express_line,) = [text for text in table.splitlines() if text.strip().startswith("EXPRESS ")]
    assert express_line.endswith("<- used")
    assert any(text.strip().startswith("STANDARD ") for text in table.splitlines())
    assert "dispatch would run the batches as EXPRESS" in table
    assert "re-check" in table


# -- actual ------------------------------------------------------------------------------------------------
MAP_RUN = "arn:aws:states:us-east-1:123456789012:mapRun:janelia-burst-compute-dev-lifecycle/x:1"
STACK = "janelia-burst-compute-dev"


def one_round_history() -> list[dict[str, Any]]:
    """A job of 6 batches in one round, as step-functions.yml runs it; DispatchNextBatches throttled once."""
    h = History()
    functions = {
        "workerFunctionName": "janelia-mysearch-dev-worker",
        "combinerFunctionName": "janelia-mysearch-dev-combiner",
    }
    h.add("ExecutionStarted", 0.4, "executionStartedEventDetails", input=json.dumps(job_input(6, **functions)))
    round_input = {"round": {"firstBatchId": 0, "lastBatchId": 5, "nextBatchId": 6, "carried": 0}}
    h.add("MapStateEntered", 0.5, "stateEnteredEventDetails", name="MapJobs", input=json.dumps(round_input))
    h.add("MapRunStarted", 0.5, "mapRunStartedEventDetails", mapRunArn=MAP_RUN)
    h.add("MapRunSucceeded", 10)
    h.add("MapStateExited", 10, "stateExitedEventDetails", name="MapJobs", output="{}")
    h.add("TaskStateEntered", 10, "stateEnteredEventDetails", name="DispatchNextBatches", input=json.dumps(round_input))
    function = json.dumps(
        {"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:{STACK}-dispatchNextBatches"}
    )
    for end, outcome in ((10.1, "TaskFailed"), (10.4, "TaskSucceeded")):
        h.add("TaskScheduled", end - 0.1, "taskScheduledEventDetails", resourceType="lambda", parameters=function)
        h.add("TaskStarted", end - 0.1, "taskStartedEventDetails", resourceType="lambda")
        details = "taskFailedEventDetails" if outcome == "TaskFailed" else "taskSucceededEventDetails"
        h.add(outcome, end, details, resourceType="lambda", error="Lambda.TooManyRequestsException")
    h.add("TaskStateExited", 10.4, "stateExitedEventDetails", name="DispatchNextBatches", output="{}")
    h.state("Choice", "AnotherRound", 10.4, 10.4)
    h.task("Summarize", 10.4, 11.4, f"{STACK}-monitor")
    h.state("Choice", "CheckForErrors", 11.4, 11.4)
    h.task("Combine", 11.4, 13.4, "janelia-mysearch-dev-combiner")
    h.state("Pass", "JobSucceeded", 13.4, 13.4)
    h.add("ExecutionSucceeded", 13.4, "executionSucceededEventDetails", output="{}")
    return h.events


def six_batch_rows() -> list[dict[str, Any]]:
    """Batch 0 stored its results in S3; batch 1 succeeded at its third attempt; batch 2 failed; batch 3
    was deferred; batch 4 left no row (its child ended past the deadline); batch 5's child failed after
    its worker, before writing a row, and Summarize recorded it (a row without times)."""
    not_recorded = {
        "jobId": {"S": JOB},
        "batchId": {"N": "5"},
        "status": {"S": "failed"},
        "error": {"S": "States.DataLimitExceeded"},
        "cause": {"S": "too large"},
        "ttl": {"N": "1796168319"},
    }
    rows = [row(0, 1.0, 1.0), row(1, 1.0, 2.05), row(2, 1.0, 0.5, "failed"), deferred_row(3), not_recorded]
    rows[0]["output"] = {"S": json.dumps({"resultsS3Uri": "s3://bucket/results/x/0.json", "nresults": 3})}
    rows[1]["attempt"] = {"N": "2"}
    rows[3]["attempt"] = {"N": "7"}
    return rows


def job_facts(
    events: list[dict[str, Any]], rows: list[dict[str, Any]], children: int, definition: dict[str, Any]
) -> JobFacts:
    """The facts of a job as fetch_facts gathers them: the history, the rows and the map run above."""
    memory = {f"{STACK}-dispatch": 1024, "janelia-mysearch-dev-worker": 512, "janelia-mysearch-dev-combiner": 2048}
    stack = fake_stack(STACK)
    names = [f"{STACK}-{key}" for key in ("dispatch", "dispatchNextBatches", "monitor")]
    names += ["janelia-mysearch-dev-worker", "janelia-mysearch-dev-combiner"]
    return JobFacts(
        job_id=JOB,
        execution={"executionArn": f"arn:aws:states:us-east-1:123456789012:execution:{STACK}-lifecycle:{JOB}"},
        events=events,
        rows=[decode_record(item) for item in rows],
        stack=stack,
        definition=definition,
        map_runs={MAP_RUN: {"executionCounts": {"total": children}}},
        functions={name: {"MemorySize": memory.get(name, 1024)} for name in names},
    )


@pytest.mark.parametrize("kind", list(ExecutionType))
def test_actual_counts_what_the_job_did(definitions: list[dict[str, Any]], kind: ExecutionType) -> None:
    report = cost.actual_cost(job_facts(one_round_history(), six_batch_rows(), 6, definition_for(kind, definitions)))
    got = lines(report)
    assert report.execution_type == report.facts["batchExecutionType"] == kind.value
    assert (report.facts["rows"], report.facts["failed"], report.facts["deferred"]) == (5, 2, 1)
    assert (report.facts["rounds"], report.facts["childExecutions"], report.facts["taskRetries"]) == (1, 6, 1)
    assert report.facts["workerLaterAttempts"] == 2 + 7
    # Lambda: the worker once per succeeded or failed row (4), 1 + 2.05 + 0.5 s at 512 MB (rows with
    # times); the parent's tasks from the history (DispatchNextBatches twice: its retry is a request
    # too), dispatch once (assumed)
    assert got[("Lambda", "worker requests")] == 4
    assert got[("Lambda", "worker compute")] == pytest.approx(3.55 * 0.5)
    assert got[("Lambda", "dispatchNextBatches requests")] == 2
    assert got[("Lambda", "dispatchNextBatches compute")] == pytest.approx(0.2)
    assert got[("Lambda", "monitor requests")] == 1
    assert got[("Lambda", "monitor compute")] == pytest.approx(1.0)
    assert got[("Lambda", "combiner requests")] == 1
    assert got[("Lambda", "combiner compute")] == pytest.approx(2.0 * 2)
    assert got[("Lambda", "dispatch requests")] == 1
    # the parent entered MapJobs, DispatchNextBatches, AnotherRound, Summarize, CheckForErrors, Combine,
    # JobSucceeded (7) and retried one task (1)
    assert got[("Step Functions", "state transitions (job)")] == 8
    if kind is ExecutionType.STANDARD:
        # batch 0: 3; batch 1: 3 + 2 attempts x 6; batches 2 and 5 (failed): 4 each; batch 3 (deferred at
        # attempt 7): 5 + 6 x 6; the child without a row: 2 (past the deadline)
        assert got[("Step Functions", "state transitions (batches)")] == 3 + 15 + 4 + 4 + 41 + 2
        assert ("Step Functions", "express requests (batches)") not in got
    else:
        # 6 children; durations (row + 100 ms, rounded up to 100 ms) x 0.0625 GB: 1.1 s, 2.2 s, 0.6 s,
        # and 0.1 s for the deferred batch, the one recorded by Summarize and the child without a row
        assert got[("Step Functions", "express requests (batches)")] == 6
        assert got[("Step Functions", "express duration (batches)")] == pytest.approx((1.1 + 2.2 + 0.6 + 3 * 0.1) / 16)
        assert any("no execution history" in note and "3 child execution(s)" in note for note in report.assumptions)
        assert ("Step Functions", "state transitions (batches)") not in got
    # DynamoDB: 5 rows of under 1 KB; Summarize, the combiner and DispatchNextBatches (its two attempts)
    # each read them (1 RRU each: under 4 KB)
    assert got[("DynamoDB", "batch rows (writes)")] == 5
    assert got[("DynamoDB", "row reads (summary)")] == 1
    assert got[("DynamoDB", "row reads (combiner)")] == 1
    assert got[("DynamoDB", "row reads (next round)")] == 2
    assert got[("S3", "batch files (PUT)")] == got[("S3", "batch files (GET)")] == 1
    assert got[("S3", "batch files (DELETE)")] == 1
    assert got[("S3", "summary (PUT)")] == 1
    assert got[("S3", "results in S3 (PUT)")] == got[("S3", "results in S3 (GET)")] == 1
    assert report.total > 0 and "TOTAL" in report.table()
