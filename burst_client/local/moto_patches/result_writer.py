"""A distributed Map's ResultWriter: what its Parameters read, and the result files it writes."""

from __future__ import annotations

import json
import logging
from typing import Any

from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.eval.environment import Environment

from burst_client.local.moto_patches.map_runs import MAP_RUN, MapChild, MapRun
from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround
from burst_core.job import iso_timestamp

LOG = logging.getLogger(__name__)


@workaround("result-writer-reads-state-input")
def _apply_result_writer_reads_state_input() -> Undo:
    """Gap 7: ResultWriter Parameters are evaluated against the Map results instead of the state input

    A distributed Map's ResultWriter evaluates its Parameters against the Map's *results* (the list of child outputs)
    instead of the state input, so `"Bucket.$": "$.bucket"` fails with States.Runtime "The JSONPath '$.bucket' could not
    be found in the input '[...]'" (ResultWriter._eval_body). Evaluate them against the state input, as AWS does, and
    hand the results on unchanged.
    """

    def eval_body(self: ResultWriter, env: Environment) -> None:
        results = env.stack.pop()
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()  # the state input
        env.stack.append(results)
        env.stack.append(parameters)
        self.resource_eval.eval_resource(env=env)

    return patch(ResultWriter, "_eval_body", eval_body)


@workaround("result-writer-files")
def _apply_result_writer_files() -> Undo:
    """Gap 19: ResultWriter writes an empty manifest only, and nothing when the Map run fails

    A distributed Map's ResultWriter (arn:aws:states:::s3:putObject) writes only a manifest.json whose ResultFiles are
    empty, and nothing when the Map run fails. AWS writes, under <Prefix>/<map run id>/, SUCCEEDED_n.json, FAILED_n.json
    ("all failed, timed out, and aborted child workflow executions") and PENDING_n.json ("child workflow executions that
    weren't started because the Map Run failed or aborted", so it writes them for a failed run too), each a JSON array
    of the children's records, and a manifest.json listing them
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html). Records as that page's
    Transformation NONE example (ExecutionArn, Input, InputDetails, Name, Output, OutputDetails, RedriveCount,
    RedriveStatus, StartDate, StateMachineArn, Status, StopDate) plus, for the others than SUCCEEDED, the child's Error
    and Cause, as AWS writes them (no Output); only files with records are written and listed. Not documented, so ours:
    a PENDING record is the item's Input and Status; Express children have the same ARN form as Standard ones;
    ExecutionType and WriterConfig options are ignored (Transformation NONE). Needs map-run-counters (17), which records
    the children.
    """
    original_put = ResourceEvalS3.__dict__["_handle_put_object"].__func__
    original_execution = StateMap.__dict__["_eval_execution"]

    def handle_put_object(env: Environment, resource_runtime_part: Any, state_credentials: Any) -> None:
        run: MapRun | None = env.__dict__.get(MAP_RUN)
        if run is None:  # map-run-counters (17) is not applied: no records
            original_put(env, resource_runtime_part, state_credentials)
            return
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs: the result files have them
        bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        directory = prefix + run.record.map_run_arn.split(":")[-1] + "/"
        listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status, records in map_run_results(run).items():
            if records:
                key = f"{directory}{status}_0.json"
                body = json.dumps(records, default=str).encode()
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                listed[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": run.record.map_run_arn, "ResultFiles": listed}
        key = directory + "manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
        env.stack.append({"MapRunArn": run.record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})

    def eval_execution(self: StateMap, env: Environment) -> None:
        try:
            original_execution(self, env)
        except FailureEventException:
            # the Map run failed (e.g. its failure threshold): its results are written all the same
            if self.result_writer is not None and env.__dict__.get(MAP_RUN) is not None and env.is_running():
                env.stack.append([])  # what the writer takes for the children's outputs
                try:
                    self.result_writer.eval(env)
                    env.stack.pop()  # its output: the Map state fails
                except Exception:
                    LOG.exception("could not write the results of a failed Map run")
            raise

    undos = [
        patch(ResourceEvalS3, "_handle_put_object", staticmethod(handle_put_object)),
        patch(StateMap, "_eval_execution", eval_execution),
    ]
    return undo_all(undos)


def _child_record(run: MapRun, child: MapChild) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ExecutionArn": child.execution_arn,
        "Input": json.dumps(child.input, separators=(",", ":"), default=str),
        "InputDetails": {"Included": True},
        "Name": child.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE" if child.status == "SUCCEEDED" else "REDRIVABLE",
        "StartDate": iso_timestamp(child.start),
        "StateMachineArn": run.record.map_state_machine_arn,
        "Status": child.status,
        "StopDate": iso_timestamp(child.stop or child.start),
    }
    if child.status == "SUCCEEDED":
        record["Output"] = json.dumps(child.output, separators=(",", ":"), default=str)
        record["OutputDetails"] = {"Included": True}
    else:
        if child.error is not None:
            record["Error"] = child.error
        if child.cause is not None:
            record["Cause"] = child.cause
    return record


def map_run_results(run: MapRun) -> dict[str, list[dict[str, Any]]]:
    """The records of a Map run's result files, by file: SUCCEEDED, FAILED (failed, timed out, aborted), PENDING."""
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    with run.lock:
        for index, item in enumerate(run.items):
            child = run.children.get(index)
            if child is None:
                files["PENDING"].append(
                    {
                        "Input": json.dumps(item, separators=(",", ":"), default=str),
                        "InputDetails": {"Included": True},
                        "Status": "PENDING",
                    }
                )
            else:
                files["SUCCEEDED" if child.status == "SUCCEEDED" else "FAILED"].append(_child_record(run, child))
    return files
