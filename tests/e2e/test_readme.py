"""Every command of README.md, as written, in order, against the README's own local endpoint.

Each code block of the README carries a marker: ``run`` (a step of one shell script, in the order of the
page; Python blocks run as ``python -`` inside it), ``background`` (started first, left running: the
endpoint) or ``skip (why)``. The script runs in a copy of the repository, so its ``npm ci`` and
``sls deploy`` do not touch the checkout. One thing differs from the page: the endpoint's port 4566 is
replaced by a free one, so the test does not depend on 4566 being free.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from burst_client.endpoint_process import free_port
from tests.support import ROOT

pytestmark = pytest.mark.e2e

README = (ROOT / "README.md").read_text()
MARKED = re.compile(r"<!-- readme-test: (run|background|skip \(.+?\)) -->\n```(bash|python)\n(.*?)\n```", re.S)
FENCE = re.compile(r"^```(bash|python|sh|console)$", re.M)
README_PORT = "4566"
# installed by `make setup`, never copied (a worktree may have them as links to another checkout)
INSTALLED = {"node_modules", ".venv"}


def test_every_code_block_is_run_or_says_why_not() -> None:
    marked = MARKED.findall(README)
    assert len(marked) == len(FENCE.findall(README)) >= 8
    assert [kind for kind, _, _ in marked if kind.startswith("skip")] == [
        "skip (CI runs `make test` on every push; `make run` is run, twice, before each submission)"
    ]


def repository_copy(target: Path) -> Path:
    """The checkout's tracked and new files (not node_modules, .venv or build output)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        if name.split("/")[0] in INSTALLED:
            continue  # the copy's `npm ci` must never reach the checkout's node_modules (e.g. through a link)
        source = ROOT / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)
    return target


def script(port: str) -> tuple[str, str]:
    """The background command and the script of every ``run`` block, the port replaced."""
    background, steps = "", ["set -euo pipefail"]
    for kind, language, written in MARKED.findall(README):
        body = written.replace(README_PORT, port)
        if kind == "background":
            background = body.split("#")[0].strip()
        elif kind == "run":
            steps.append(body if language == "bash" else f"python - <<'README_PYTHON'\n{body}\nREADME_PYTHON")
    return background, "\n".join(steps) + "\n"


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    repo = repository_copy(tmp_path / "burst-compute")
    port = str(free_port())
    background, steps = script(port)
    assert background == f"burst local up --port {port}"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "BURST_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # no config file of the user's
        AWS_CONFIG_FILE="/nonexistent",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        SLS_TELEMETRY_DISABLED="1",
        npm_config_prefer_offline="true",  # npm's cache was filled by `make setup`: no refetching
        npm_config_audit="false",
        npm_config_fund="false",
    )
    console = (tmp_path / "endpoint.log").open("wb")
    endpoint = subprocess.Popen(["bash", "-c", background], cwd=repo, env=env, stdout=console, stderr=console)
    try:
        deadline = time.monotonic() + 60
        while "Press Ctrl-C to stop." not in (tmp_path / "endpoint.log").read_text():
            assert endpoint.poll() is None and time.monotonic() < deadline, (tmp_path / "endpoint.log").read_text()
            time.sleep(0.1)
        (tmp_path / "readme.sh").write_text(steps)
        result = subprocess.run(
            ["bash", str(tmp_path / "readme.sh")],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
    finally:
        endpoint.send_signal(signal.SIGINT)  # Ctrl-C, as the README says
        stopped = endpoint.wait(timeout=60)
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert stopped == 0

    out = result.stdout
    found = re.search(r'^\{"jobId"', out, re.M)  # `cat response.json`: no newline after it
    assert found, out
    dispatched, _ = json.JSONDecoder().raw_decode(out, found.start())
    assert (dispatched["numBatches"], dispatched["batchSize"]) == (100, 10_000)
    # burst wait, status and output print the combiner's result: 78,498 primes below a million
    assert out.count('"primes": 78498') == 3, out
    assert "succeeded {'status': 'succeeded', 'primes': 78498, 'largest': 999983" in out
    assert "[] []" in out
    results = (repo / "my-search" / "results.jsonl").read_text().splitlines()
    assert len(results) == 100
    assert re.search(r"^== batch 7: /aws/lambda/myorg-my-search-prod-worker ", out, re.M)
    assert re.search(r"no failed batches, none left unstarted", out)
