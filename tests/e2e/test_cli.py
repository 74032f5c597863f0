"""End-to-end: the `burst` CLI and the SDK against the local endpoint."""

from __future__ import annotations

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from burst_client.errors import DispatchRejected
from burst_client.sdk import BurstClient

from .conftest import ORG, STAGE, LocalStack

pytestmark = pytest.mark.e2e

BURST = [sys.executable, "-m", "burst_client.cli"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without the user's burst settings (BURST_*, their config file)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BURST_")}
    env["XDG_CONFIG_HOME"] = "/nonexistent-burst-config"
    return {**env, **extra}


def burst(local: LocalStack, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = clean_env(**{"AWS_ENDPOINT_URL": local.url, **(env or {})})
    return subprocess.run([*BURST, *args], capture_output=True, text=True, env=full_env, timeout=300)


def stack_args(*extra: str) -> list[str]:
    return ["--org", ORG, "--stage", STAGE, *extra]


def test_dispatch_wait_status_results(local: LocalStack, tmp_path: Path):
    out = burst(
        local,
        "dispatch",
        *stack_args("--json", "--wait"),
        "--worker",
        local.worker(),
        "--combiner",
        local.combiner(),
        "--start",
        "0",
        "--end",
        "50",
        "--batch-size",
        "10",
    )
    assert out.returncode == 0, out.stderr
    document = json.loads(out.stdout)  # one JSON document: dispatch's answer with the final status
    job_id = document["jobId"]
    assert f"job {job_id} started" in out.stderr
    assert (document["numBatches"], document["status"]["state"], document["status"]["done"]) == (5, "succeeded", 5)
    expected = {"sum": sum(i * i for i in range(50)), "batches": [0, 1, 2, 3, 4], "status": "succeeded"}
    assert document["status"]["result"] == expected

    status = burst(local, "status", job_id, *stack_args("--json"))
    assert json.loads(status.stdout)["state"] == "succeeded"
    assert json.loads(status.stdout)["result"] == expected
    text = burst(local, "status", job_id, *stack_args())
    assert text.stdout.startswith(f"{job_id}: succeeded, 5/5 batches done, 0 failed, 0 pending")
    assert f"  result: {json.dumps(expected)}" in text.stdout
    output = burst(local, "output", job_id, *stack_args())
    assert output.returncode == 0 and json.loads(output.stdout) == expected

    target = tmp_path / "results.jsonl"
    results = burst(local, "results", job_id, *stack_args("-o", str(target)))
    assert results.returncode == 0, results.stderr
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert [r["batchId"] for r in rows] == list(range(5))
    assert sum(sum(r["results"]) for r in rows) == sum(i * i for i in range(50))


def test_dispatch_from_a_file(local: LocalStack, tmp_path: Path):
    job_file = tmp_path / "job.json"
    job_file.write_text(
        json.dumps(
            {
                "workerFunctionName": local.worker(),
                "combinerFunctionName": local.combiner(),
                "datasetStartIndex": 0,
                "datasetEndIndex": 20,
                "batchSize": 10,
            }
        )
    )
    out = burst(local, "dispatch", *stack_args("--file", str(job_file), "--wait"))
    assert out.returncode == 0, out.stderr
    assert "succeeded, 2/2 batches done" in out.stdout


def test_failed_job_exit_code_failures_and_partial_result(local: LocalStack):
    job = local.testbed_job(0, 60, 10, tolerated_percentage_failure=50, job_parameters={"failBatches": [2, 3, 4, 5]})
    wait = burst(local, "wait", job.job_id, *stack_args("--quiet"))
    assert wait.returncode == 1
    # the combiner ran on the CombineError path: its result over the batches that succeeded is shown
    partial = {"sum": sum(i * i for i in range(20)), "batches": [0, 1], "status": "failed"}
    assert f"  result: {json.dumps(partial)}" in wait.stdout, wait.stdout
    output = burst(local, "output", job.job_id, *stack_args("--json"))
    assert output.returncode == 1 and json.loads(output.stdout) == partial

    failures = burst(local, "failures", job.job_id, *stack_args("--json"))
    document = json.loads(failures.stdout)
    assert (document["failedCount"], document["neverStartedCount"]) == (4, 0)
    (group,) = document["groups"]
    assert (group["error"], group["count"], group["batchIds"], group["distinctMessages"]) == (
        "ValueError",
        4,
        [2, 3, 4, 5],
        4,
    )
    assert group["example"] == "injected failure in batch 2"
    text = burst(local, "failures", job.job_id, *stack_args())
    assert text.stdout.splitlines() == [
        f"{job.job_id}: 4 of 6 batches failed, 0 never started",
        "  4 x ValueError: injected failure in batch 2 (4 different messages)",
        "      batches 2-5",
        f"(every cause: burst failures {job.job_id} --all)",
    ]
    every = burst(local, "failures", job.job_id, *stack_args("--all"))
    assert [line.split(":")[0] for line in every.stdout.splitlines() if line.startswith("batch ")] == [
        "batch 2",
        "batch 3",
        "batch 4",
        "batch 5",
    ]


def test_timed_out_job_exit_code(local: LocalStack):
    job = local.testbed_job(0, 6, 1, max_parallelism=2, jobs_timeout_secs=2, job_parameters={"sleepSecs": 2})
    wait = burst(local, "wait", job.job_id, *stack_args())
    assert wait.returncode == 3, wait.stdout + wait.stderr
    assert "timed out" in wait.stdout
    failures = burst(local, "failures", job.job_id, *stack_args())
    summary = job.summary()
    assert summary is not None and summary["unprocessedBatchCount"] > 0
    never = summary["unprocessedBatchCount"]
    assert f"0 of 6 batches failed, {never} never started" in failures.stdout, failures.stdout
    assert f"{never} x never started: batches " in failures.stdout


def test_cancel_mid_run_stops_new_batches(local: LocalStack):
    job = local.testbed_job(0, 40, 1, max_parallelism=2, job_parameters={"sleepSecs": 1})
    deadline = time.monotonic() + 60
    while not local.invocations(job) and time.monotonic() < deadline:
        time.sleep(0.5)
    gave_up = burst(local, "wait", job.job_id, *stack_args("--timeout", "0.1", "--json"))
    assert gave_up.returncode == 6 and json.loads(gave_up.stdout)["state"] == "running"  # still one document
    limit = burst(local, "logs", job.job_id, *stack_args("--limit", "0"))
    assert limit.returncode == 2 and "--limit: expected a positive integer, got 0" in limit.stderr
    cancel = burst(local, "cancel", job.job_id, *stack_args())
    assert cancel.returncode == 0, cancel.stderr
    wait = burst(local, "wait", job.job_id, *stack_args("--quiet"))
    assert wait.returncode == 4
    again = burst(local, "cancel", job.job_id, *stack_args("--json"))
    assert again.returncode == 7
    assert json.loads(again.stdout) == {"jobId": job.job_id, "cancelled": False, "state": "cancelled"}
    no_result = burst(local, "output", job.job_id, *stack_args())
    assert (
        no_result.returncode == 4
        and "ended without a result: it was cancelled before its combiner ran" in no_result.stderr
    )
    time.sleep(3)  # anything still in flight finishes
    started = sum(len(calls) for calls in local.invocations(job).values())
    time.sleep(4)
    assert sum(len(calls) for calls in local.invocations(job).values()) == started
    assert started < 40


def test_redrive_runs_failed_batches_to_completion(local: LocalStack):
    job = local.testbed_job(0, 50, 10, tolerated_percentage_failure=0, job_parameters={"failOnFirstRun": [1, 3]})
    assert job.wait(timeout=120).state == "failed"
    assert [f.batch_id for f in job.failures()] == [1, 3]
    out = burst(local, "redrive", job.job_id, *stack_args("--wait", "--json"))
    assert out.returncode == 0, out.stdout + out.stderr
    again = local.client.job(job.job_id)  # found again: the latest execution is the redrive
    assert again.execution_arn.endswith(f"{job.job_id}-redrive-1")
    status = again.status()
    assert (status.state, status.done, status.failed) == ("succeeded", 5, 0)
    assert again.output()["result"]["sum"] == sum(i * i for i in range(50))
    assert sum(len(r.results) for r in again.results()) == 50
    calls = local.invocations(job)
    assert {b: len(c) for b, c in calls.items()} == {0: 1, 1: 2, 2: 1, 3: 2, 4: 1}


def test_results_with_sdk_read_s3_stored_results(local: LocalStack):
    job = local.testbed_job(0, 4, 2, job_parameters={"largeResultBytes": 450_000})
    job.wait(timeout=120)
    results = list(job.results())
    assert [r.batch_id for r in results] == [0, 1]
    assert all(len(json.dumps(r.results)) > 400_000 for r in results)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["status", "x", "--org", ORG, "--stage", "nope"], {}, "stack janelia-burst-compute-nope is not deployed"),
        (["status", "no-such-job", *stack_args()], {}, "job no-such-job not found"),
        (["status", "x", *stack_args()], {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, "cannot reach"),
    ],
)
def test_errors_are_one_clear_line(local: LocalStack, args: list[str], env: dict[str, Any], expected: str):
    out = burst(local, *args, env=env)
    assert out.returncode == 5
    assert out.stderr.count("\n") == 1 and expected in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_missing_credentials(local: LocalStack):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=local.url,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
    )
    out = subprocess.run([*BURST, "status", "x", *stack_args()], capture_output=True, text=True, env=env)
    assert out.returncode == 5 and "no AWS credentials found" in out.stderr


def test_usage_errors_exit_2(local: LocalStack):
    out = burst(local, "dispatch", *stack_args("--start", "0"))
    assert out.returncode == 2 and "dispatch needs --worker, --combiner, --end" in out.stderr
    bad = burst(
        local,
        "dispatch",
        *stack_args("--worker", "w", "--combiner", "c", "--start", "0", "--end", "10", "--batch-size", "0"),
    )
    assert bad.returncode == 2 and "batchSize: expected a positive integer, got 0" in bad.stderr


def test_sdk_dispatch_refusal(local: LocalStack):
    with pytest.raises(DispatchRejected, match="datasetEndIndex: expected an integer greater than"):
        local.client.dispatch(local.worker(), local.combiner(), 10, 5)


def test_help_has_examples():
    out = subprocess.run([*BURST, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "examples:" in out.stdout and "exit codes:" in out.stdout
    version = subprocess.run([*BURST, "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"burst {importlib.metadata.version('burst-compute')}"


def test_client_found_from_org_and_stage(local: LocalStack):
    client = BurstClient(ORG, STAGE, clients=local.clients)
    assert client.stack.name == f"{ORG}-burst-compute-{STAGE}"


def test_timeline_and_cost_commands(local: LocalStack, tmp_path: Path):
    job = local.testbed_job(0, 30, 10)
    assert job.wait(timeout=120).state == "succeeded"
    html, png = tmp_path / "t.html", tmp_path / "t.png"
    out = burst(local, "timeline", job.job_id, *stack_args("--html", str(html), "--png", str(png)))
    assert out.returncode == 0, out.stderr
    assert html.read_text().count("<rect") >= 3 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = burst(local, "cost", job.job_id, *stack_args("--json"))
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["total"] > 0
    estimate = burst(
        local, "cost", *stack_args("--estimate", "--items", "1000", "--batch-size", "10", "--worker-ms", "100")
    )
    assert estimate.returncode == 0 and "TOTAL" in estimate.stdout
    missing = burst(local, "cost", *stack_args())
    assert missing.returncode == 2 and "cost needs a JOB_ID" in missing.stderr


def test_global_options_before_the_command_environment_and_config_file(local: LocalStack, tmp_path: Path):
    job = local.testbed_job(0, 10, 10)
    assert job.wait(timeout=120).state == "succeeded"
    before = burst(local, "--org", ORG, "--stage", STAGE, "--json", "status", job.job_id)
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["state"] == "succeeded"

    from_env = burst(local, "status", job.job_id, env={"BURST_ORG": ORG, "BURST_STAGE": STAGE})
    assert from_env.returncode == 0 and from_env.stdout.startswith(f"{job.job_id}: succeeded"), from_env.stderr

    config = tmp_path / "config.toml"
    config.write_text(f'org = "{ORG}"\nstage = "{STAGE}"\n')
    from_file = burst(local, "status", job.job_id, env={"BURST_CONFIG": str(config)})
    assert from_file.returncode == 0 and from_file.stdout.startswith(f"{job.job_id}: succeeded"), from_file.stderr
    # a flag wins over the environment, which wins over the file
    flag_wins = burst(local, "--stage", "nope", "status", job.job_id, env={"BURST_STAGE": STAGE})
    assert flag_wins.returncode == 5 and "janelia-burst-compute-nope is not deployed" in flag_wins.stderr
    shown = burst(local, "config", "--json", env={"BURST_CONFIG": str(config), "BURST_STAGE": "prod"})
    settings = json.loads(shown.stdout)
    assert (settings["org"], settings["stage"]) == (ORG, "prod")
    assert settings["sources"] == {
        "org": str(config),
        "stage": "BURST_STAGE",
        "region": "default",
        "profile": "default",
    }


def test_closed_pipe_and_ctrl_c_end_without_a_traceback(local: LocalStack):
    job = local.testbed_job(0, 200, 2)
    assert job.wait(timeout=120).state == "succeeded"
    env = clean_env(AWS_ENDPOINT_URL=local.url)
    # the reader is gone before burst writes its first line (as `burst results JOB | head` ends)
    proc = subprocess.Popen(
        [*BURST, "results", job.job_id, *stack_args()], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and stderr == "", stderr

    slow = local.testbed_job(0, 4, 1, max_parallelism=1, job_parameters={"sleepSecs": 2})
    waiting = subprocess.Popen(
        [*BURST, "wait", slow.job_id, *stack_args("--quiet")], stderr=subprocess.PIPE, text=True, env=env
    )
    time.sleep(2)
    waiting.send_signal(signal.SIGINT)
    _, stderr = waiting.communicate(timeout=60)
    assert waiting.returncode == 130 and "Traceback" not in stderr
    assert "interrupted (a job keeps running: `burst cancel JOB_ID` stops it)" in stderr
    slow.cancel()


def test_logs_of_a_failed_and_a_chosen_batch(local: LocalStack):
    job = local.testbed_job(0, 30, 10, tolerated_percentage_failure=50, job_parameters={"failBatches": [1]})
    assert job.wait(timeout=120).state == "succeeded"
    failed = burst(local, "logs", job.job_id, *stack_args())  # the failed batches by default
    assert failed.returncode == 0, failed.stderr
    lines = failed.stdout.splitlines()
    assert lines[0].startswith(f"== batch 1: /aws/lambda/{local.worker()} ")
    assert any(line.endswith("[ERROR] ValueError: injected failure in batch 1") for line in lines), failed.stdout
    assert any(line.endswith("Traceback (most recent call last):") for line in lines)
    chosen = burst(local, "logs", job.job_id, "--batch", "2", *stack_args("--json"))
    document = json.loads(chosen.stdout)
    (batch,) = document["batches"]
    assert batch["batchId"] == 2 and batch["complete"]
    messages = [line["message"] for line in batch["lines"]]
    assert f"testbed worker: job {job.job_id} batch 2 attempt 0" in messages
    assert messages[0].startswith("START RequestId: ") and messages[-1].startswith("REPORT RequestId: ")
    unknown = burst(local, "logs", job.job_id, "--batch", "99", *stack_args())
    assert unknown.returncode == 5 and "batch 99" in unknown.stderr and "Traceback" not in unknown.stderr
