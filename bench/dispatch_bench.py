"""Dispatch of 1,000 / 10,000 / 100,000 batches: partition + batch file, beside json.dumps (floor).

Each size runs in a fresh process so peak memory is that size's own. The deployment's limits are
raised (max parallelism 10^6) so no batch-size adjustment happens: 100 items per batch.
The S3, Step Functions and Lambda calls (dispatch checks the job's worker and combiner) go to moto
in-process and are included in the dispatch time.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import statistics
import time
import tracemalloc
import zipfile
from typing import Any

REPEATS = 5


def _one_size(num_batches: int, queue: Any) -> None:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_ENDPOINT_URL", None)
    logging.getLogger("burst_core.functions").setLevel(logging.ERROR)  # moto has no GetAccountSettings
    import boto3
    from moto import mock_aws

    from burst_core.config import Settings
    from burst_core.dispatch import Dispatcher
    from burst_core.partition import plan_partition

    batch_size = 100
    event = {
        "workerFunctionName": "w",
        "combinerFunctionName": "c",
        "datasetStartIndex": 0,
        "datasetEndIndex": num_batches * batch_size,
        "batchSize": batch_size,
        "maxParallelism": 10**6,
    }
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="bench")
        sfn = boto3.client("stepfunctions")
        role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        definition = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
        arn, express = (
            sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"]
            for name in ("x", "x-express")
        )
        lambda_client = boto3.client("lambda")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("h.py", "def handler(event, context):\n    return None\n")
        for name in ("w", "c"):  # dispatch checks the job's functions (moto answers in-process)
            lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="h.handler",
                Code={"ZipFile": code.getvalue()},
            )
        settings = Settings("tasks", "bench", arn, max_parallelism=10**6, express_state_machine_arn=express)
        dispatcher = Dispatcher(settings, s3=s3, stepfunctions=sfn, lambda_client=lambda_client)
        plan = plan_partition(0, num_batches * batch_size, batch_size, 10**6, 2)
        assert plan.num_batches == num_batches and plan.batch_size == batch_size

        def dispatch_work() -> None:
            out = dispatcher.dispatch(event)  # validate, partition, write batch file, start execution
            assert out["numBatches"] == num_batches

        def floor_work() -> None:
            items = [
                {"batchId": b.batch_id, "startIndex": b.start_index, "endIndex": b.end_index} for b in plan.batches()
            ]
            json.dumps(items, separators=(",", ":"))

        floor_items = [
            {"batchId": b.batch_id, "startIndex": b.start_index, "endIndex": b.end_index} for b in plan.batches()
        ]

        def dumps_only() -> None:
            json.dumps(floor_items, separators=(",", ":"))

        results: dict[str, Any] = {"numBatches": num_batches}
        for name, work in (("dispatch", dispatch_work), ("jsonDumps", dumps_only), ("buildListAndDumps", floor_work)):
            work()  # warm-up
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                work()
                times.append(time.perf_counter() - started)
            tracemalloc.start()
            work()
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            results[name] = {"medianSecs": statistics.median(times), "peakMiB": peak / 2**20}
        key = s3.list_objects_v2(Bucket="bench")["Contents"][0]["Key"]
        body = s3.get_object(Bucket="bench", Key=key)["Body"].read()
        assert json.loads(body) == floor_items
        results["batchFileBytes"] = len(body)
    queue.put(results)


def run() -> dict[str, Any]:
    rows = []
    context = multiprocessing.get_context("spawn")
    for num_batches in (1_000, 10_000, 100_000):
        queue = context.Queue()
        process = context.Process(target=_one_size, args=(num_batches, queue))
        process.start()
        result = queue.get(timeout=600)
        process.join()
        rows.append(result)
    table = [
        {
            "batches": r["numBatches"],
            "dispatch ms (validate, partition, write file, start)": round(r["dispatch"]["medianSecs"] * 1000, 1),
            "json.dumps of the list ms (floor)": round(r["jsonDumps"]["medianSecs"] * 1000, 1),
            "ratio to floor": round(r["dispatch"]["medianSecs"] / r["jsonDumps"]["medianSecs"], 2),
            "build dicts + json.dumps ms": round(r["buildListAndDumps"]["medianSecs"] * 1000, 1),
            "dispatch peak MiB": round(r["dispatch"]["peakMiB"], 1),
            "json.dumps peak MiB": round(r["jsonDumps"]["peakMiB"], 1),
            "batch file KiB": r["batchFileBytes"] // 1024,
        }
        for r in rows
    ]
    big = rows[-1]
    targets = {
        "100k dispatch under 1 s": big["dispatch"]["medianSecs"] < 1.0,
        "100k dispatch under 150 MB peak": big["dispatch"]["peakMiB"] < 150,
    }
    from bench.common import write_result

    write_result("dispatch", {"description": __doc__, "rows": rows, "targets": targets}, table)
    return targets


if __name__ == "__main__":
    run()
