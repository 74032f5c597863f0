"""The tasks table gateway (burst_core.persistence) against stubbed DynamoDB and S3 answers (botocore Stubber):
the paginated query, the one decoding of a row, what the rows say of a job's batches; and reading results
from records in bounded memory (burst_core.results.batch_results)."""

from __future__ import annotations

import io
import json
import threading
import time
from typing import Any

import pytest
from botocore.stub import ANY

from burst_core.exceptions import InvalidWorkerOutput, StorageError
from burst_core.persistence import (
    RECORD_ATTRIBUTES,
    RESULT_ATTRIBUTES,
    BatchFailure,
    BatchRecord,
    BatchStatus,
    TasksTable,
    decode_record,
    item_size,
    job_query,
    outcomes,
    ranges,
)
from burst_core.results import batch_result, batch_results
from burst_core.storage import encode_json, json_size
from tests.support import JOB, stub_query, stubbed_client

TABLE = "janelia-burst-compute-dev-tasks"
BUCKET = "janelia-burst-compute-dev-mapjobsinputs"


def item(batch_id: int, status: str | None = "succeeded", **attributes: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"jobId": {"S": JOB}, "batchId": {"N": str(batch_id)}}
    if status is not None:
        row["status"] = {"S": status}
    return {**row, **attributes}


@pytest.fixture
def dynamodb() -> Any:
    client, stubber = stubbed_client("dynamodb")
    yield client, stubber
    stubber.assert_no_pending_responses()
    stubber.deactivate()


# -- the query ------------------------------------------------------------------------------------------------
def test_one_query_of_a_jobs_rows_with_consistent_reads_and_the_record_attributes() -> None:
    request = job_query(TABLE, JOB)
    assert request == {
        "TableName": TABLE,
        "KeyConditionExpression": "jobId = :j",
        "ExpressionAttributeValues": {":j": {"S": JOB}},
        "ConsistentRead": True,
        "ProjectionExpression": ", ".join(f"#a{i}" for i in range(len(RECORD_ATTRIBUTES))),
        "ExpressionAttributeNames": {f"#a{i}": name for i, name in enumerate(RECORD_ATTRIBUTES)},
    }
    assert "output" not in RECORD_ATTRIBUTES and "output" in RESULT_ATTRIBUTES


def test_the_query_takes_batch_id_bounds_a_status_and_every_attribute() -> None:
    request = job_query(TABLE, JOB, 3, 7, attributes=None, status=BatchStatus.DEFERRED)
    assert request["KeyConditionExpression"] == "jobId = :j AND batchId BETWEEN :first AND :last"
    assert request["ExpressionAttributeValues"] == {
        ":j": {"S": JOB},
        ":first": {"N": "3"},
        ":last": {"N": "7"},
        ":status": {"S": "deferred"},
    }
    assert request["FilterExpression"] == "#status = :status"
    assert request["ExpressionAttributeNames"] == {"#status": "status"}
    assert "ProjectionExpression" not in request


def test_records_read_every_page_in_order_through_the_paginator(dynamodb) -> None:
    client, stubber = dynamodb
    pages = [[item(0), item(1)], [item(2, "failed")], [item(3, "deferred")]]
    stub_query(stubber, *pages, expected=job_query(TABLE, JOB))
    queries: list[dict[str, Any]] = []
    client.meta.events.register("provide-client-params.dynamodb.Query", lambda params, **_: queries.append(params))
    records = TasksTable(client, TABLE).records(JOB)
    first = next(records)
    assert (first.batch_id, len(queries)) == (0, 1)  # one page at a time: the later ones are not read yet
    assert [first.batch_id] + [r.batch_id for r in records] == [0, 1, 2, 3]
    assert len(queries) == 3


def test_items_are_the_raw_rows_of_every_attribute(dynamodb) -> None:
    client, stubber = dynamodb
    rows = [item(0, output={"S": "[1]"}, ttl={"N": "1796168319"})]
    stub_query(stubber, rows, expected=job_query(TABLE, JOB, attributes=None))
    assert list(TasksTable(client, TABLE).items(JOB)) == rows


def test_one_record_is_a_bounded_query(dynamodb) -> None:
    client, stubber = dynamodb
    table = TasksTable(client, TABLE)
    stub_query(stubber, [item(4, "failed", error={"S": "E"})], expected=job_query(TABLE, JOB, 4, 4))
    stub_query(stubber, [], expected=job_query(TABLE, JOB, 5, 5))
    assert table.record(JOB, 4) == BatchRecord(
        4, BatchStatus.FAILED, error="E", size=item_size(item(4, "failed", error={"S": "E"}))
    )
    assert table.record(JOB, 5) is None


def test_deferred_batches_are_filtered_in_the_query(dynamodb) -> None:
    client, stubber = dynamodb
    expected = job_query(TABLE, JOB, 0, 9, attributes=("batchId", "status", "endedAt"), status=BatchStatus.DEFERRED)
    stub_query(stubber, [item(2, "deferred", endedAt={"S": "2026-11-24T12:00:00.000Z"})], expected=expected)
    (record,) = TasksTable(client, TABLE).deferred(JOB, 0, 9)
    assert (record.batch_id, record.status, record.ended_at) == (2, BatchStatus.DEFERRED, "2026-11-24T12:00:00.000Z")


def test_a_refused_query_is_a_storage_error_naming_job_and_table(dynamodb) -> None:
    client, stubber = dynamodb
    stubber.add_client_error("query", "AccessDeniedException", "not allowed")
    with pytest.raises(StorageError, match=f"job {JOB}: cannot query the tasks table {TABLE}: .*not allowed"):
        list(TasksTable(client, TABLE).records(JOB))


# -- the one decoding ------------------------------------------------------------------------------------------
def test_every_attribute_of_a_row_is_decoded() -> None:
    row = item(
        7,
        output={"S": '{"results":[1],"nresults":1}'},
        error={"S": "ValueError"},
        cause={"S": "bad input"},
        startedAt={"S": "2026-11-24T12:00:03.120Z"},
        endedAt={"S": "2026-11-24T12:00:04.870Z"},
        attempt={"N": "2"},
        requestId={"S": "8f507cfc-2b4d-4697-b07a-ac58fc914c95"},
        results={"S": "index,score\n"},
        resultsMimeType={"S": "text/csv"},
        nresults={"N": "1"},
        resultsS3Uri={"S": "s3://bucket/results/j/7.json"},
        ttl={"N": "1796168319"},
        mine={"M": {"k": {"BOOL": True}}},  # the worker's own: read by nothing
    )
    assert decode_record(row) == BatchRecord(
        batch_id=7,
        status=BatchStatus.SUCCEEDED,
        error="ValueError",
        cause="bad input",
        started_at="2026-11-24T12:00:03.120Z",
        ended_at="2026-11-24T12:00:04.870Z",
        attempt=2,
        request_id="8f507cfc-2b4d-4697-b07a-ac58fc914c95",
        output='{"results":[1],"nresults":1}',
        results="index,score\n",
        results_mime_type="text/csv",
        nresults=1,
        results_s3_uri="s3://bucket/results/j/7.json",
        size=item_size(row),
    )


@pytest.mark.parametrize("status", ["succeeded", "failed", "deferred"])
def test_each_stored_status(status: str) -> None:
    assert decode_record(item(0, status)).status is BatchStatus(status)


@pytest.mark.parametrize("status", [None, "running", ""])
def test_a_row_without_a_known_status_is_unconfirmed(status: str | None) -> None:
    # a row an original-contract worker wrote itself, not (yet) confirmed by the state machine
    record = decode_record(item(3, status, results={"S": "[]"}))
    assert (record.status, record.results) == (BatchStatus.UNCONFIRMED, "[]")


def test_attributes_of_another_type_than_the_tables_are_absent() -> None:
    record = decode_record(
        item(
            1,
            output={"N": "1"},
            error={"BOOL": True},
            startedAt={"N": "1"},
            attempt={"S": "2"},
            requestId={"NULL": True},
            resultsMimeType={"B": b"text/csv"},
            nresults={"S": "9"},
            resultsS3Uri={"L": []},
        )
    )
    assert record == BatchRecord(1, BatchStatus.SUCCEEDED, size=record.size)


@pytest.mark.parametrize(
    "value", [{"L": [{"N": "702"}]}, {"M": {"a": {"S": "b"}}}, {"N": "3"}, {"NULL": True}, {"SS": ["a"]}]
)
def test_an_own_row_results_of_another_type_is_kept_as_dynamodbs_typed_value(value: dict[str, Any]) -> None:
    # docs/Interfaces.md: it reaches the combiner and `burst results` undecoded
    assert decode_record(item(2, results=value)).results == value


def test_a_record_knows_the_size_of_what_was_read() -> None:
    # attribute names plus values: batchId 7+2 (N "5"), jobId 5+36, status 6+9
    assert decode_record(item(5)).size == 9 + 41 + 15
    assert item_size({"n": {"N": "-0.00123"}, "b": {"BOOL": True}, "l": {"L": [{"S": "ab"}]}}) == 4 + 2 + (1 + 3 + 3)


# -- what the rows say of a job's batches -------------------------------------------------------------------------
def test_outcomes_say_succeeded_failed_and_never_ran() -> None:
    deferred = BatchRecord(4, BatchStatus.DEFERRED, ended_at="2026-11-24T12:00:00.000Z")
    unconfirmed = BatchRecord(6, BatchStatus.UNCONFIRMED)
    records = [
        BatchRecord(5, BatchStatus.FAILED),  # in any order
        BatchRecord(0, BatchStatus.SUCCEEDED),
        BatchRecord(1, BatchStatus.FAILED, "ValueError", "bad input"),
        BatchRecord(2, BatchStatus.SUCCEEDED),
        deferred,
        unconfirmed,
    ]
    got = outcomes(records, 10)
    assert got.succeeded == 2
    assert got.failed == (BatchFailure(1, "ValueError", "bad input"), BatchFailure(5, "Unknown", ""))
    assert dict(got.never_ran) == {3: None, 4: deferred, 6: unconfirmed, 7: None, 8: None, 9: None}
    assert got.never_ran_ranges == [[3, 5], [6, 10]]
    assert got.not_succeeded == [1, 3, 4, 5, 6, 7, 8, 9]


def test_outcomes_of_a_job_without_rows_and_of_a_finished_one() -> None:
    nothing = outcomes([], 3)
    assert (nothing.succeeded, nothing.failed, nothing.never_ran_ranges) == (0, (), [[0, 3]])
    done = outcomes((BatchRecord(b, BatchStatus.SUCCEEDED) for b in range(3)), 3)
    assert (done.succeeded, done.failed, dict(done.never_ran), done.not_succeeded) == (3, (), {}, [])


def test_a_failure_is_listed_as_the_summary_lists_it() -> None:
    assert BatchFailure.of(3, None, None).as_dict() == {"batchId": 3, "error": "Unknown", "cause": ""}
    assert ranges([0, 1, 2, 5, 7, 8]) == [[0, 3], [5, 6], [7, 9]]


# -- the one write and the JSON objects -------------------------------------------------------------------------
def test_record_failure_never_overwrites_an_outcome(dynamodb) -> None:
    client, stubber = dynamodb
    stubber.add_response(
        "update_item",
        {},
        {
            "TableName": TABLE,
            "Key": {"jobId": {"S": JOB}, "batchId": {"N": "3"}},
            "UpdateExpression": ANY,
            "ConditionExpression": "attribute_not_exists(#status) OR #status = :deferred",
            "ExpressionAttributeNames": ANY,
            "ExpressionAttributeValues": ANY,
        },
    )
    stubber.add_client_error("update_item", "ConditionalCheckFailedException")
    stubber.add_client_error("update_item", "ProvisionedThroughputExceededException")
    table = TasksTable(client, TABLE)
    assert table.record_failure(JOB, 3, error="States.DataLimitExceeded", cause="too large", ttl=1) is True
    assert table.record_failure(JOB, 3, error="States.DataLimitExceeded", cause="too large", ttl=1) is False
    with pytest.raises(StorageError, match="batch 3: cannot write"):
        table.record_failure(JOB, 3, error="E", cause="C", ttl=1)


def test_json_objects_are_stored_compact_with_their_type() -> None:
    s3, stubber = stubbed_client("s3")
    value = {"a": [1, 2], "b": "é"}
    expected = {"Bucket": BUCKET, "Key": "jobs/j/summary.json", "Body": b'{"a":[1,2],"b":"\\u00e9"}'}
    stubber.add_response("put_object", {}, {**expected, "ContentType": "application/json"})
    assert TasksTable(None, TABLE, s3, BUCKET).put_json_object("jobs/j/summary.json", value) == (
        f"s3://{BUCKET}/jobs/j/summary.json"
    )
    assert encode_json(value) == expected["Body"] and json_size(value) == len(expected["Body"])
    with pytest.raises(StorageError, match="no bucket configured"):
        TasksTable(None, TABLE).put_json_object("k", 1)


# -- results from records ----------------------------------------------------------------------------------------
def succeeded(batch_id: int, output: Any) -> BatchRecord:
    return BatchRecord(batch_id, BatchStatus.SUCCEEDED, output=json.dumps(output))


class SlowBucket:
    """S3 whose objects are the batch ids, read slowly; counts the reads under way at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reading = self.most = 0

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        with self.lock:
            self.reading += 1
            self.most = max(self.most, self.reading)
        time.sleep(0.01)
        with self.lock:
            self.reading -= 1
        return {"Body": io.BytesIO(json.dumps([int(Key.rsplit("/", maxsplit=1)[-1])]).encode())}


def stream(count: int) -> list[BatchRecord]:
    """Succeeded batches, every other one stored in S3, with a failed batch between them."""
    out = [BatchRecord(count, BatchStatus.FAILED)]
    for b in range(count):
        inline = {"results": [b], "nresults": 1}
        out.append(succeeded(b, inline if b % 2 else {"resultsS3Uri": f"s3://{BUCKET}/results/j/{b}", "nresults": 1}))
    return out


@pytest.mark.parametrize("read_ahead", [0, 1, 4])
def test_results_come_in_record_order_with_a_bounded_read_ahead(read_ahead: int) -> None:
    bucket = SlowBucket()
    got = list(batch_results(stream(40), bucket, read_ahead=read_ahead))
    assert [r.batch_id for r in got] == list(range(40))
    assert [r.results for r in got] == [[b] for b in range(40)]
    assert bucket.most <= max(read_ahead, 1)
    if read_ahead > 1:
        assert bucket.most > 1  # fetched ahead, in parallel


def test_results_are_read_as_they_are_iterated() -> None:
    taken: list[int] = []

    def records() -> Any:
        for record in stream(100):
            taken.append(record.batch_id)
            yield record

    results = batch_results(records(), SlowBucket(), read_ahead=3)
    assert next(results).batch_id == 0
    assert len(taken) <= 1 + 3 + 1  # the failed record, the one yielded and the read-ahead
    results.close()


def test_an_output_of_an_unknown_shape_is_raised_in_its_turn() -> None:
    records = [succeeded(0, [0]), succeeded(1, {"results": [1], "nresults": "one"}), succeeded(2, [2])]
    results = batch_results(records, SlowBucket(), read_ahead=4)
    assert next(results).batch_id == 0
    with pytest.raises(InvalidWorkerOutput, match="batch 1: nresults must be an integer"):
        next(results)
    assert batch_result(records[2], None).results == [2]
