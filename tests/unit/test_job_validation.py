import pytest

from burst_core.exceptions import InvalidJobInput, PayloadTooLarge
from burst_core.job import MAX_JOB_PARAMETERS_BYTES, parse_job_request

VALID = {
    "workerFunctionName": "janelia-worker",
    "combinerFunctionName": "janelia-combiner",
    "datasetStartIndex": 0,
    "datasetEndIndex": 100,
}


def with_(**changes):
    event = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def test_defaults():
    request = parse_job_request(VALID)
    assert request.batch_size == 50
    assert request.max_parallelism is None
    assert request.jobs_timeout_secs is None
    assert request.job_parameters == {}
    assert request.tolerated_percentage_failure == 10.0


def test_integer_strings_are_accepted_for_compatibility():
    request = parse_job_request(
        with_(
            datasetStartIndex="10",
            datasetEndIndex="100",
            batchSize=" 20 ",
            maxParallelism="7",
            jobsTimeoutSecs="60",
            toleratedPercentageFailure="2.5",
        )
    )
    assert (request.dataset_start_index, request.dataset_end_index, request.batch_size) == (10, 100, 20)
    assert (request.max_parallelism, request.jobs_timeout_secs) == (7, 60)
    assert request.tolerated_percentage_failure == 2.5


def test_function_arns_are_accepted():
    arn = "arn:aws:lambda:us-east-1:123456789012:function:janelia-worker:live"
    assert parse_job_request(with_(workerFunctionName=arn)).worker_function_name == arn


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"workerFunctionName": ...}, "workerFunctionName", "is required"),
        ({"workerFunctionName": ""}, "workerFunctionName", "non-empty Lambda function name"),
        ({"combinerFunctionName": "  "}, "combinerFunctionName", "non-empty Lambda function name"),
        ({"combinerFunctionName": "bad name!"}, "combinerFunctionName", "expected a Lambda function name"),
        ({"workerFunctionName": 42}, "workerFunctionName", "non-empty Lambda function name"),
        ({"datasetStartIndex": ...}, "datasetStartIndex", "is required"),
        ({"datasetStartIndex": "abc"}, "datasetStartIndex", "expected an integer, got 'abc'"),
        ({"datasetStartIndex": 1.5}, "datasetStartIndex", "expected an integer"),
        ({"datasetStartIndex": True}, "datasetStartIndex", "expected an integer"),
        ({"datasetStartIndex": -1}, "datasetStartIndex", "expected an integer >= 0, got -1"),
        ({"datasetEndIndex": 0}, "datasetEndIndex", "greater than datasetStartIndex (0)"),
        ({"datasetStartIndex": 50, "datasetEndIndex": 10}, "datasetEndIndex", "greater than datasetStartIndex"),
        ({"batchSize": 0}, "batchSize", "expected a positive integer, got 0"),
        ({"batchSize": "NaN"}, "batchSize", "expected an integer"),
        ({"maxParallelism": -3}, "maxParallelism", "expected a positive integer"),
        ({"jobsTimeoutSecs": "0"}, "jobsTimeoutSecs", "expected a positive integer"),
        ({"toleratedPercentageFailure": 101}, "toleratedPercentageFailure", "between 0 and 100"),
        ({"toleratedPercentageFailure": -1}, "toleratedPercentageFailure", "between 0 and 100"),
        ({"toleratedPercentageFailure": "lots"}, "toleratedPercentageFailure", "between 0 and 100"),
        ({"toleratedPercentageFailure": float("nan")}, "toleratedPercentageFailure", "between 0 and 100"),
        ({"jobParameters": [1, 2]}, "jobParameters", "expected a JSON object, got list"),
        ({"jobParameters": "x=1"}, "jobParameters", "expected a JSON object, got str"),
        ({"batchsize": 10}, "batchsize", "did you mean batchSize?"),
        ({"workerFunction": "w"}, "workerFunction", "did you mean workerFunctionName?"),
        ({"colour": "blue"}, "colour", "unknown field; expected one of"),
    ],
)
def test_bad_input_names_the_field(changes, field, expected):
    with pytest.raises(InvalidJobInput) as caught:
        parse_job_request(with_(**changes))
    assert caught.value.field == field
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{field}: ")


def test_event_must_be_an_object():
    with pytest.raises(InvalidJobInput, match="event: expected a JSON object, got list"):
        parse_job_request([VALID])


def test_job_parameters_too_large_for_step_functions():
    big = {"mask": "x" * MAX_JOB_PARAMETERS_BYTES}
    with pytest.raises(PayloadTooLarge, match=r"jobParameters: is .* bytes as JSON; at most"):
        parse_job_request(with_(jobParameters=big))


def test_job_parameters_must_be_json():
    with pytest.raises(InvalidJobInput, match="jobParameters: expected a JSON-serialisable object"):
        parse_job_request(with_(jobParameters={"x": float("inf")}))
