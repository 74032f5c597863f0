"""`python -m burst_client.local up`: start, refuse a taken port, stop cleanly on Ctrl-C and SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from burst_client.local import add_local_subcommands, main, run_up
from tests.local.support import ROOT, Endpoint, create_function, make_zip, pid_alive, start_endpoint

WHERE_AM_I = make_zip({"h.py": "import os\n\ndef handler(event, context):\n    return [os.getpid(), os.getcwd()]\n"})


def test_port_in_use_is_one_clear_line(endpoint: Endpoint) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "burst_client.local", "up", "--port", str(endpoint.port)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"burst-local: error: port {endpoint.port} on 127.0.0.1 is already in use; stop whatever listens "
        "there (another local endpoint?) or choose another port with --port"
    ]
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_endpoint_and_its_workers(tmp_path: Path, sig: signal.Signals) -> None:
    endpoint = start_endpoint(tmp_path / "console.log")
    try:
        client = endpoint.client("lambda")
        create_function(client, endpoint.client("iam"), "where", WHERE_AM_I)
        pid, code_dir = json.loads(client.invoke(FunctionName="where", Payload=b"{}")["Payload"].read())
        assert pid_alive(pid)
        assert Path(code_dir).is_dir()
    finally:
        code = endpoint.stop(sig)

    assert code == 0
    assert not pid_alive(pid)
    assert not Path(code_dir).exists()  # the unpacked code went with it
    console = endpoint.console()
    assert f"stopping ({sig.name})" in console
    assert "Traceback" not in console


def test_workers_exit_when_the_endpoint_is_killed(tmp_path: Path) -> None:
    """Even after SIGKILL (no cleanup), idle workers see their request pipe close and exit."""
    endpoint = start_endpoint(tmp_path / "console.log")
    client = endpoint.client("lambda")
    create_function(client, endpoint.client("iam"), "where", WHERE_AM_I)
    pid, _ = json.loads(client.invoke(FunctionName="where", Payload=b"{}")["Payload"].read())

    assert endpoint.stop(signal.SIGKILL) == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)


def test_concurrency_from_the_environment(tmp_path: Path) -> None:
    endpoint = start_endpoint(tmp_path / "console.log", env={**os.environ, "BURST_LOCAL_CONCURRENCY": "7"})
    try:
        assert "(concurrency 7," in endpoint.console()
        assert f"Local AWS endpoint: {endpoint.url}" in endpoint.console()
        settings = endpoint.client("lambda").get_account_settings()  # not in moto: answered by the endpoint
        assert settings["AccountLimit"]["ConcurrentExecutions"] == 7
        assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 7
    finally:
        assert endpoint.stop() == 0


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["up", "--concurrency", "0"], {}, "--concurrency must be a positive integer, got 0"),
        (["up"], {"BURST_LOCAL_CONCURRENCY": "lots"}, "BURST_LOCAL_CONCURRENCY must be a positive integer"),
    ],
)
def test_bad_settings_exit_1(
    argv: list[str],
    env: dict[str, str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_subcommands_plug_into_another_cli() -> None:
    parser = argparse.ArgumentParser(prog="burst")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local").add_subparsers(dest="local_command", required=True)
    add_local_subcommands(local)

    args = parser.parse_args(["local", "up", "--port", "4570", "--concurrency", "50"])

    assert (args.port, args.concurrency, args.func) == (4570, 50, run_up)


def test_a_port_left_in_time_wait_is_free_a_listening_one_is_not() -> None:
    from burst_client.endpoint_process import HOST, free_port, port_is_free

    port = free_port()
    listener = socket.create_server((HOST, port))
    client = socket.create_connection((HOST, port))
    accepted, _ = listener.accept()
    assert not port_is_free(port)  # something listens there
    accepted.close()  # the server side closes first: its end of the connection stays in TIME-WAIT
    client.close()
    listener.close()
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind((HOST, port))  # the gap: a bind without SO_REUSEADDR fails for a minute (`make run` twice)
    assert port_is_free(port)


def test_the_banner_is_the_readme_line_and_works_with_the_aws_cli(tmp_path: Path) -> None:
    endpoint = start_endpoint(tmp_path / "console.log")
    try:
        (line,) = [line.strip() for line in endpoint.console().splitlines() if line.strip().startswith("export ")]
        readme = (ROOT / "README.md").read_text()
        assert line.replace(f"127.0.0.1:{endpoint.port}", "127.0.0.1:4566") in readme
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
        env.update(dict(assignment.split("=", 1) for assignment in line.removeprefix("export ").split()))
        # the AWS CLI of the virtual environment (v1) with nothing but the banner's variables
        aws = Path(sys.executable).parent / "aws"
        result = subprocess.run(
            [str(aws), "sts", "get-caller-identity", "--output", "json"],  # AWS_ENDPOINT_URL from the banner
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        endpoint.stop(signal.SIGTERM)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Account"] == "123456789012"
