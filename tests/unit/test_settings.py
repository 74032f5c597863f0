"""Where `burst` finds org, stage, region and profile: flags, BURST_* variables, the config file, defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from burst_client.cli import build_parser
from burst_client.settings import ConfigError, config_path, resolve


def test_defaults_without_anything(tmp_path: Path) -> None:
    settings = resolve({}, {"XDG_CONFIG_HOME": str(tmp_path)})
    assert (settings.org, settings.stage, settings.region, settings.profile) == ("janelia", "dev", None, None)
    assert set(settings.sources.values()) == {"default"}


def test_flag_then_environment_then_file(tmp_path: Path) -> None:
    (tmp_path / "burst").mkdir()
    config = tmp_path / "burst" / "config.toml"
    config.write_text('org = "fileorg"\nstage = "filestage"\nregion = "eu-west-1"\nprofile = "lab"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), "BURST_STAGE": "envstage", "BURST_REGION": "us-west-2"}
    settings = resolve({"region": "ap-south-1", "org": None}, env)
    assert (settings.org, settings.stage, settings.region, settings.profile) == (
        "fileorg",
        "envstage",
        "ap-south-1",
        "lab",
    )
    assert settings.sources == {
        "org": str(config),
        "stage": "BURST_STAGE",
        "region": "--region",
        "profile": str(config),
    }


def test_burst_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('stage = "prod"\n')
    assert config_path({"BURST_CONFIG": str(config)}) == config
    assert resolve({}, {"BURST_CONFIG": str(config)}).stage == "prod"
    with pytest.raises(ConfigError, match=r"config file .*missing.toml \(from \$BURST_CONFIG\) does not exist"):
        resolve({}, {"BURST_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('orgs = "x"\n', "unknown key 'orgs' (expected org, stage, region, profile)"),
        ("stage = 3\n", "stage must be a non-empty string, got 3"),
        ('stage = "\n', "Illegal character"),
    ],
)
def test_a_bad_config_file_is_named(tmp_path: Path, body: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(body)
    with pytest.raises(ConfigError, match=f"config file {re.escape(str(config))}: .*{re.escape(message)}"):
        resolve({}, {"BURST_CONFIG": str(config)})


@pytest.mark.parametrize("org", ["my org", "MyOrg"])  # uppercase cannot name the stack's S3 bucket
def test_a_bad_name_says_where_it_came_from(tmp_path: Path, org: str) -> None:
    with pytest.raises(ConfigError, match=rf"org '{org}' \(from BURST_ORG\) is not a valid name: expected lowercase"):
        resolve({}, {"XDG_CONFIG_HOME": str(tmp_path), "BURST_ORG": org})


def test_the_region_before_local_up_is_kept() -> None:
    assert build_parser().parse_args(["--region", "eu-west-1", "local", "up"]).region == "eu-west-1"
    assert not hasattr(build_parser().parse_args(["local", "up"]), "region")  # run_up: us-east-1


@pytest.mark.parametrize(
    "argv",
    [
        ["--org", "o", "--stage", "s", "--json", "status", "J"],
        ["status", "J", "--org", "o", "--stage", "s", "--json"],
        ["--org", "o", "status", "--stage", "s", "J", "--json"],
    ],
)
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.org, args.stage, args.json, args.job_id) == ("o", "s", True, "J")


def test_an_option_after_the_command_wins() -> None:
    args = build_parser().parse_args(["--stage", "a", "status", "J", "--stage", "b"])
    assert args.stage == "b"
    assert not hasattr(build_parser().parse_args(["status", "J"]), "org")  # then resolved from env/file/defaults
