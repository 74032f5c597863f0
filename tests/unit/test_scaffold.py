"""`burst init`: names, refusals, what it writes, its IAM roles, the CLI's conventions (tests/scaffold deploys
and runs what it writes)."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

import burst_client
from burst_client import cli, scaffold
from burst_client.scaffold import OSLS_VERSION, ScaffoldError, add_init_command, compatible_version, init_service
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


@pytest.fixture(autouse=True)
def no_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No BURST_* variable and no config file of the machine's: returns where the config file would be."""
    for name in ("BURST_ORG", "BURST_STAGE", "BURST_REGION", "BURST_PROFILE", "BURST_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    return tmp_path / "config-home" / "burst" / "config.toml"


def burst(*argv: str) -> int:
    """`burst ...` with only the init command (the CLI registers it the same way)."""
    parser = argparse.ArgumentParser(prog="burst")
    add_init_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


class CloudFormationLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags: ``!Sub 'x'`` is read as ``{"Sub": "x"}``."""


CloudFormationLoader.add_multi_constructor(
    "!",
    lambda loader, tag, node: {
        tag: loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
    },
)


def serverless_yml(directory: Path) -> dict[str, Any]:
    return yaml.load((directory / "serverless.yml").read_text(), Loader=CloudFormationLoader)


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
    assert capsys.readouterr().err.startswith("burst: error: org 'My Org' (from --org) is not a valid name")
    # a name the settings take, but too long for the service's resource names
    assert burst("init", str(tmp_path / "x"), "--org", "o" * 31) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"burst: error: org {'o' * 31!r} is not valid: lowercase letters")
    assert error.endswith(", from --org\n")
    assert not (tmp_path / "x").exists()


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


# -- the CLI's conventions: the org from --org, BURST_ORG or the config file; --json before or after init --------
def test_the_org_comes_from_burst_org_and_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_settings: Path, capsys: pytest.CaptureFixture[str]
):
    no_settings.parent.mkdir(parents=True)
    no_settings.write_text('org = "fileorg"\n')
    assert burst("init", str(tmp_path / "a"), "--name", "my-search") == 0
    assert "org: ${opt:org, 'fileorg'}" in (tmp_path / "a/serverless.yml").read_text()
    assert "npx sls deploy -s dev --org fileorg" in capsys.readouterr().out

    monkeypatch.setenv("BURST_ORG", "envorg")
    assert cli.main(["init", str(tmp_path / "b"), "--name", "my-search"]) == 0
    assert 'burst_org = "envorg"' in (tmp_path / "b/pyproject.toml").read_text()
    assert cli.main(["--org", "flagorg", "init", str(tmp_path / "c"), "--name", "my-search"]) == 0
    assert "org: ${opt:org, 'flagorg'}" in (tmp_path / "c/serverless.yml").read_text()

    monkeypatch.setenv("BURST_ORG", "a--b")
    assert cli.main(["init", str(tmp_path / "d"), "--name", "my-search"]) == 2
    assert capsys.readouterr().err.startswith("burst: error: org 'a--b' is not valid")  # then: ", from BURST_ORG"
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("before", [True, False], ids=["burst --json init", "burst init --json"])
def test_json_prints_one_document(tmp_path: Path, capsys: pytest.CaptureFixture[str], before: bool):
    target = tmp_path / "my-search"
    argv = ["--json", "init", str(target)] if before else ["init", str(target), "--json"]
    assert cli.main([*argv, "--org", "myorg"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert {key: value for key, value in document.items() if key != "files"} == {
        "directory": str(target.resolve()),
        "service": "my-search",
        "package": "my_search",
        "org": "myorg",
    }
    assert sorted(document["files"]) == sorted(EXPECTED_FILES)
    assert burst("init", str(tmp_path / "x"), "--json") == 0  # init's own --json, without the CLI's options
    assert json.loads(capsys.readouterr().out)["org"] == "janelia"


def test_json_errors_are_one_line_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert cli.main(["init", str(tmp_path / "x"), "--name", "9lives", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("burst: error: service name '9lives' is not valid")


def test_init_works_with_the_cli_s_global_options_as_parents(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """As the CLI's other commands: its global options (SUPPRESS defaults) as parents, before or after."""
    common = argparse.ArgumentParser(add_help=False)
    for option in ("--org", "--stage"):
        common.add_argument(option, default=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    parser = argparse.ArgumentParser(prog="burst", parents=[common])
    add_init_command(parser.add_subparsers(dest="command", required=True), parents=[common])
    args = parser.parse_args(["--org", "myorg", "init", str(tmp_path / "my-search"), "--stage", "prod", "--json"])
    assert run(args) == 0
    assert json.loads(capsys.readouterr().out)["org"] == "myorg"
    args = parser.parse_args(["init", str(tmp_path / "other"), "--name", "my-search"])
    assert not hasattr(args, "org") and not hasattr(args, "json")
    assert run(args) == 0
    out = capsys.readouterr().out  # text, with the default org
    assert out.startswith("created my-search in ") and "--org janelia" in out


def run(args: argparse.Namespace) -> int:
    return int(args.func(args))


# -- one version, and a valid pin -------------------------------------------------------------------------------
def test_version_falls_back_to_a_valid_pep_440_version(monkeypatch: pytest.MonkeyPatch):
    assert burst_client.version() == importlib.metadata.version("burst-compute")

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert burst_client.version() == burst_client.UNKNOWN_VERSION == "0+unknown"


def test_burst_version_prints_the_shared_version(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"burst {burst_client.version()}\n"


@pytest.mark.parametrize(
    ("installed", "pinned"),
    [
        ("0.1.0", "0.1.0"),
        ("0.1.0+g1234", "0.1.0"),
        ("0.1.0+g1234.d20261130", "0.1.0"),
        ("1.2", "1.2"),
        ("0+unknown", "0.0"),
        ("3", "3.0"),
        ("0.2.0rc1+local", "0.2.0rc1"),
        ("0.1.1.dev3+g1234", "0.1.1.dev3"),
        ("1!2.0.post1", "1!2.0.post1"),
        ("1!2", "1!2.0"),
    ],
)
def test_the_pin_is_a_valid_compatible_release(installed: str, pinned: str):
    assert compatible_version(installed) == pinned
    specifiers = pytest.importorskip("packaging.specifiers")
    version = pytest.importorskip("packaging.version")
    spec = specifiers.SpecifierSet(f"~={pinned}")  # raises InvalidSpecifier if not valid
    public = version.Version(installed).public
    assert spec.contains(public, prereleases=True) or installed == burst_client.UNKNOWN_VERSION


def test_a_version_that_is_no_pep_440_version_is_refused():
    with pytest.raises(ScaffoldError, match="'unknown' is not a PEP 440 version"):
        compatible_version("unknown")


@pytest.mark.parametrize("installed", ["0.1.0+g1234", "0+unknown"])
def test_requirements_pin_a_version_pip_accepts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, installed: str):
    monkeypatch.setattr(scaffold, "version", lambda: installed)
    init_service(tmp_path / "my-search")
    lines = (tmp_path / "my-search/requirements-dev.txt").read_text().splitlines()
    pin = next(line for line in lines if line.startswith("burst-compute"))
    assert pin == f"burst-compute[local]~={compatible_version(installed)}"
    requirements = pytest.importorskip("packaging.requirements")
    assert str(requirements.Requirement(pin).specifier) == f"~={compatible_version(installed)}"


# -- least privilege: a role per function, each with exactly its statements -------------------------------------
BUCKET = "arn:${AWS::Partition}:s3:::${cf:${self:custom.burst}.MapJobsInputsBucket}"
TABLE = "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${cf:${self:custom.burst}.TasksTable}"
LOGS = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${self:functions.%s.name}:*"
WRITE_LOGS = ["logs:CreateLogStream", "logs:PutLogEvents"]
EXPECTED_STATEMENTS = {
    "worker": [
        {"Sid": "WriteItsLogs", "Effect": "Allow", "Action": WRITE_LOGS, "Resource": {"Sub": LOGS % "worker"}},
        {
            "Sid": "StoreLargeResults",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": {"Sub": f"{BUCKET}/results/*"},
        },
    ],
    "combiner": [
        {"Sid": "WriteItsLogs", "Effect": "Allow", "Action": WRITE_LOGS, "Resource": {"Sub": LOGS % "combiner"}},
        {"Sid": "ReadBatchRows", "Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": {"Sub": TABLE}},
        {
            "Sid": "ReadStoredResultsAndFailures",
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [{"Sub": f"{BUCKET}/results/*"}, {"Sub": f"{BUCKET}/jobs/*"}],
        },
        {
            "Sid": "StoreLargeResult",
            "Effect": "Allow",
            "Action": ["s3:PutObject"],
            "Resource": {"Sub": f"{BUCKET}/results/*"},
        },
    ],
}


def test_each_function_has_a_role_of_its_own_with_only_what_it_needs(tmp_path: Path):
    init_service(tmp_path / "my-search")
    config = serverless_yml(tmp_path / "my-search")
    assert "iam" not in config["provider"] and "role" not in config["provider"]  # osls makes no shared role
    resources = config["resources"]["Resources"]
    assert {logical_id for logical_id, resource in resources.items() if resource["Type"] == "AWS::IAM::Role"} == {
        "WorkerRole",
        "CombinerRole",
    }
    for function, statements in EXPECTED_STATEMENTS.items():
        logical_id = config["functions"][function]["role"]
        assert logical_id == f"{function.capitalize()}Role"
        role = resources[logical_id]["Properties"]
        assert role["RoleName"] == "${self:custom.prefix}-${aws:region}-" + function
        assert role["AssumeRolePolicyDocument"] == {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        assert set(role) == {"RoleName", "AssumeRolePolicyDocument", "Policies"}  # no managed policy
        [policy] = role["Policies"]
        assert policy["PolicyName"] == "${self:custom.prefix}-" + function
        assert policy["PolicyDocument"] == {"Version": "2012-10-17", "Statement": statements}
    # the statements are those of docs/Interfaces.md ("Permissions your functions need"), with the logs
    assert config["functions"]["worker"]["name"] == "${self:custom.prefix}-worker"
    assert config["functions"]["combiner"]["name"] == "${self:custom.prefix}-combiner"


PLUGIN_HARNESS = textwrap.dedent(
    """
    const Plugin = require(process.argv[1]);
    class ServerlessError extends Error {}
    const resources = JSON.parse(process.argv[2]);
    const serverless = {
      classes: { Error: ServerlessError },
      service: { provider: { compiledCloudFormationTemplate: { Resources: resources } } },
    };
    const plugin = new Plugin(serverless, {});
    try {
      plugin.hooks['before:aws:package:finalize:saveServiceState']();
      console.log('ok');
    } catch (error) {
      console.log(error.message);
    }
    """
)


@pytest.mark.parametrize(
    ("resource_type", "name", "expected"),
    [
        ("AWS::IAM::Role", "r" * 64, "ok"),
        (
            "AWS::IAM::Role",
            "r" * 65,
            f"CombinerRole's RoleName {'r' * 65} is 65 characters, AWS allows 64: deploy with a shorter org or "
            "stage, or shorten the name in serverless.yml",
        ),
        ("AWS::Lambda::Function", "f" * 65, f"CombinerRole's FunctionName {'f' * 65} is 65 characters"),
        ("AWS::Logs::LogGroup", "l" * 65, "ok"),
    ],
)
def test_the_plugin_refuses_names_longer_than_aws_allows(tmp_path: Path, resource_type: str, name: str, expected: str):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    init_service(tmp_path / "my-search")
    property_name = {"AWS::IAM::Role": "RoleName", "AWS::Lambda::Function": "FunctionName"}.get(resource_type, "Name")
    resources = {"CombinerRole": {"Type": resource_type, "Properties": {property_name: name}}, "Other": {"Type": "X"}}
    result = subprocess.run(
        [node, "-e", PLUGIN_HARNESS, str(tmp_path / "my-search/plugins/burst-compute.js"), json.dumps(resources)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(expected), result.stdout
