"""`burst init`: names, refusals, what it writes (tests/scaffold deploys and runs what it writes)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from burst_client.scaffold import OSLS_VERSION, ScaffoldError, add_init_command, init_service
from tests.support import ROOT

EXPECTED_FILES = {
    ".gitignore",
    "README.md",
    "conftest.py",
    "package.json",
    "plugins/burst-compute.js",
    "my_search/__init__.py",
    "my_search/combiner.py",
    "my_search/primes.py",
    "my_search/worker.py",
    "pyproject.toml",
    "requirements-dev.txt",
    "serverless.yml",
    "tests/test_job.py",
    "tests/test_primes.py",
}


def burst(*argv: str) -> int:
    """`burst ...` with only the init command (the CLI registers it the same way)."""
    parser = argparse.ArgumentParser(prog="burst")
    add_init_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_init_writes_a_service_named_after_its_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "my-search"
    assert burst("init", str(target)) == 0
    written = {str(path.relative_to(target)) for path in target.rglob("*") if path.is_file()}
    assert written == EXPECTED_FILES
    for path in target.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(), path  # every placeholder replaced
    serverless = (target / "serverless.yml").read_text()
    assert "service: my-search\n" in serverless
    assert "org: ${opt:org, 'janelia'}" in serverless
    assert "handler: my_search/worker.handler" in serverless
    assert "- ${cf:${self:custom.burst}.HelpersLayer}" in serverless
    assert "from my_search.primes import count_primes" in (target / "my_search/worker.py").read_text()
    assert 'burst_org = "janelia"' in (target / "pyproject.toml").read_text()
    assert "npm install" in capsys.readouterr().out


def test_init_takes_name_and_org(tmp_path: Path):
    assert burst("init", str(tmp_path / "x"), "--name", "my-search", "--org", "myorg") == 0
    assert "org: ${opt:org, 'myorg'}" in (tmp_path / "x/serverless.yml").read_text()
    assert (tmp_path / "x/my_search/worker.py").is_file()


def test_the_service_pins_the_osls_burst_compute_deploys_with(tmp_path: Path):
    init_service(tmp_path / "my-search")
    pinned = json.loads((tmp_path / "my-search/package.json").read_text())["devDependencies"]
    assert pinned == {"osls": OSLS_VERSION}
    assert json.loads((ROOT / "package.json").read_text())["devDependencies"]["osls"] == OSLS_VERSION
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/osls"]["version"] == OSLS_VERSION


@pytest.mark.parametrize("name", ["My-Search", "my_search", "-search", "search-", "my--search", "9lives", "a" * 31])
def test_bad_names_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str):
    assert burst("init", str(tmp_path / "x"), f"--name={name}") == 2
    error = capsys.readouterr().err
    assert error.startswith(f"burst: error: service name {name!r} is not valid: lowercase letters")
    assert error.count("\n") == 1
    assert not (tmp_path / "x").exists()


def test_a_directory_name_that_is_no_service_name_asks_for_name(tmp_path: Path):
    with pytest.raises(ScaffoldError, match=r"'My_Dir' is not valid.*taken from the directory: pass --name"):
        init_service(tmp_path / "My_Dir")


@pytest.mark.parametrize("name", ["json", "os", "tests", "burst-core", "import"])
def test_names_whose_package_would_hide_a_module_are_refused(tmp_path: Path, name: str):
    with pytest.raises(ScaffoldError, match="hides another module"):
        init_service(tmp_path / "x", name=name)


def test_a_bad_org_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert burst("init", str(tmp_path / "x"), "--org", "My Org") == 2
    assert "burst: error: org 'My Org' is not valid" in capsys.readouterr().err


def test_a_non_empty_directory_is_refused_and_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "my-search"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert burst("init", str(target)) == 2
    error = capsys.readouterr().err
    assert error == (
        f"burst: error: {target} is not empty: choose a new directory, or add --force to write the service's files "
        "into it (existing files are never overwritten)\n"
    )
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_force_writes_beside_other_files_but_never_over_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "my-search"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    assert burst("init", str(target), "--force") == 0
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "serverless.yml").is_file()

    (target / "README.md").write_text("my readme")
    (target / "serverless.yml").unlink()
    assert burst("init", str(target), "--force") == 2
    error = capsys.readouterr().err
    assert error.startswith(f"burst: error: {target} already has README.md, ")
    assert error.endswith(": nothing was written (files are never overwritten)\n")
    assert "serverless.yml" not in error
    assert (target / "README.md").read_text() == "my readme"
    assert not (target / "serverless.yml").exists()  # nothing written


def test_generated_python_is_clean(tmp_path: Path):
    init_service(tmp_path / "my-search")
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        pytest.skip("ruff is not installed")
    options = ["--isolated", "--line-length", "120", "--target-version", "py311"]
    service = tmp_path / "my-search"  # ruff's first-party packages: those of the service's directory
    check = subprocess.run(
        [str(ruff), "check", *options, "--select", "E,F,W,I,B,UP,SIM", "."], cwd=service, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    formatted = subprocess.run(
        [str(ruff), "format", "--check", *options, "."], cwd=service, capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout + formatted.stderr


def test_the_plugin_is_valid_javascript(tmp_path: Path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    init_service(tmp_path / "my-search")
    result = subprocess.run(
        [node, "--check", str(tmp_path / "my-search/plugins/burst-compute.js")], capture_output=True
    )
    assert result.returncode == 0, result.stderr
