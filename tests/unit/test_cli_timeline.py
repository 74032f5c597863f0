"""`burst timeline` without matplotlib writes the HTML and says how to get the PNG (no error)."""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from burst_client import cli, timeline
from burst_client.cli import common, diagnose, reports


def test_timeline_without_matplotlib_writes_only_the_html(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    built = SimpleNamespace(as_dict=lambda: {"batches": 2})
    monkeypatch.setattr(
        common, "client", lambda args: SimpleNamespace(job=lambda job_id: SimpleNamespace(job_id=job_id))
    )
    monkeypatch.setattr(timeline, "build_timeline", lambda job: built)
    monkeypatch.setattr(timeline, "render_html", lambda t, path: Path(path))
    drawn: list[Any] = []
    monkeypatch.setattr(timeline, "render_png", lambda t, path: drawn.append(path) or Path(path))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else find_spec(name, *a)
    )
    args = argparse.Namespace(job_id="j1", html=tmp_path / "t.html", png=None, json=True)

    assert reports.cmd_timeline(args) == cli.Exit.OK
    assert drawn == []
    assert json.loads(capsys.readouterr().out) == {"html": str(tmp_path / "t.html"), "png": None, "batches": 2}

    args.png = tmp_path / "t.png"  # asked for explicitly: drawn (and render_png reports a missing matplotlib)
    assert reports.cmd_timeline(args) == cli.Exit.OK
    assert drawn == [tmp_path / "t.png"]


def test_an_error_of_the_shared_core_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from burst_core.exceptions import StorageError

    def refused(args: argparse.Namespace) -> int:
        raise StorageError("job j: cannot query the tasks table t: AccessDenied")

    monkeypatch.setattr(diagnose, "cmd_failures", refused)
    code = cli.main(["failures", "j", "--org", "o", "--stage", "s"])
    assert code == cli.Exit.ERROR
    assert capsys.readouterr().err == "burst: error: job j: cannot query the tasks table t: AccessDenied\n"
