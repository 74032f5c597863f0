"""dispatch's checks of a job's worker and combiner, with the Lambda API stubbed (botocore Stubber)."""

import re
from collections.abc import Iterator

import boto3
import pytest
from botocore.stub import Stubber

from burst_core.config import Settings
from burst_core.exceptions import ConfigurationError, InvalidJobInput
from burst_core.functions import FunctionInfo, LambdaFunctions, iam_name_match

ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:janelia-burst-compute-dev-lifecycle"
SETTINGS = Settings("t", "b", ARN, stack_prefix="janelia-burst-compute-dev", worker_function_pattern="janelia-*")


@pytest.fixture
def stubbed() -> Iterator[tuple[LambdaFunctions, Stubber]]:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield LambdaFunctions(client, SETTINGS), stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("janelia-*", "janelia-search-dev-worker", True),
        ("janelia-*", "janelia", False),
        ("janelia-*-worker", "janelia-a-worker", True),
        ("janelia-?", "janelia-ab", False),
        ("janelia-[ab]", "janelia-a", False),  # IAM has no character classes
        ("*", "anything", True),
    ],
)
def test_iam_name_patterns(pattern, name, matches):
    assert iam_name_match(pattern, name) is matches


def test_an_existing_function_of_the_pattern_is_accepted_with_its_timeout(stubbed):
    functions, stubber = stubbed
    stubber.add_response(
        "get_function_configuration", {"FunctionName": "janelia-w", "Timeout": 42}, {"FunctionName": "janelia-w:live"}
    )
    assert functions.check("workerFunctionName", "janelia-w:live") == FunctionInfo("janelia-w:live", "janelia-w", 42)


def test_a_missing_function_is_named_in_the_error(stubbed):
    functions, stubber = stubbed
    stubber.add_client_error("get_function_configuration", "ResourceNotFoundException", "Function not found")
    with pytest.raises(InvalidJobInput, match=r"^combinerFunctionName: no Lambda function 'janelia-c' in us-east-1$"):
        functions.check("combinerFunctionName", "janelia-c")


def test_a_denied_read_is_a_deployment_problem(stubbed):
    functions, stubber = stubbed
    stubber.add_client_error("get_function_configuration", "AccessDeniedException", "not authorized")
    with pytest.raises(ConfigurationError, match="lambda:GetFunctionConfiguration denied"):
        functions.check("workerFunctionName", "janelia-w")


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("janelia-burst-compute-dev-monitor", "is one of burst-compute's own functions"),
        ("other-w", "does not match the deployment's worker pattern 'janelia-*'"),
        ("arn:aws:lambda:us-east-1:210987654321:function:janelia-w", "is in account 210987654321"),
    ],
)
def test_refused_without_asking_lambda(stubbed, reference, message):
    functions, _ = stubbed  # no response queued: any call would fail the test
    with pytest.raises(InvalidJobInput, match=re.escape(message)):
        functions.check("workerFunctionName", reference)


def test_concurrency_of_a_worker_with_reserved_concurrency(stubbed):
    functions, stubber = stubbed
    stubber.add_response(
        "get_function_concurrency", {"ReservedConcurrentExecutions": 50}, {"FunctionName": "janelia-w"}
    )
    limit = functions.concurrency(FunctionInfo("janelia-w", "janelia-w", 3))
    assert (limit.limit, limit.source) == (50, "the reserved concurrency of janelia-w (50)")


def test_concurrency_of_the_account(stubbed):
    functions, stubber = stubbed
    stubber.add_response("get_function_concurrency", {}, {"FunctionName": "janelia-w"})
    stubber.add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 900}},
    )
    limit = functions.concurrency(FunctionInfo("janelia-w", "janelia-w", 3))
    assert (limit.limit, limit.source) == (900, "the account's unreserved Lambda concurrency (900)")


def test_unknown_concurrency_does_not_refuse_the_job(stubbed):
    functions, stubber = stubbed
    stubber.add_response("get_function_concurrency", {}, {"FunctionName": "janelia-w"})
    stubber.add_client_error("get_account_settings", "AccessDeniedException", "no")
    limit = functions.concurrency(FunctionInfo("janelia-w", "janelia-w", 3))
    assert limit.limit is None
    assert limit.source.startswith("unknown (lambda:GetAccountSettings failed")
