"""Where the client finds its stack: org, stage, region and profile, from flags, environment or a file.

Each setting is taken from the first of:

1. the command-line flag (``--org``, ``--stage``, ``--region``, ``--profile``);
2. the environment: ``BURST_ORG``, ``BURST_STAGE``, ``BURST_REGION``, ``BURST_PROFILE``;
3. the config file: ``$BURST_CONFIG``, else ``$XDG_CONFIG_HOME/burst/config.toml`` (by default
   ``~/.config/burst/config.toml``), a TOML file of top-level keys::

       org = "myorg"
       stage = "prod"
       region = "us-east-1"
       profile = "research"

4. the defaults: org ``janelia``, stage ``dev``; region and profile are then boto3's own (its
   ``AWS_DEFAULT_REGION``/``AWS_PROFILE`` and ``~/.aws/config``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from burst_client.errors import BurstClientError

ENV_CONFIG = "BURST_CONFIG"
ENV = {"org": "BURST_ORG", "stage": "BURST_STAGE", "region": "BURST_REGION", "profile": "BURST_PROFILE"}
DEFAULTS: dict[str, str | None] = {"org": "janelia", "stage": "dev", "region": None, "profile": None}
# what an org or stage may be: it names a CloudFormation stack and every resource in it, the S3 bucket
# included, whose name must be lowercase
NAME_PATTERN = r"[a-z][a-z0-9-]*"


class ConfigError(BurstClientError):
    """The config file cannot be read, or holds an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class Settings:
    org: str
    stage: str
    region: str | None = None
    profile: str | None = None
    # where each value came from: "--org", "BURST_ORG", the config file's path, or "default"
    sources: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "burst" / "config.toml"


def load_file(path: Path, *, required: bool = False) -> dict[str, str]:
    """The settings of a config file ({} when it does not exist and ``required`` is false)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} (from ${ENV_CONFIG}) does not exist") from None
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    unknown = sorted(set(data) - set(DEFAULTS))
    if unknown:
        raise ConfigError(f"config file {path}: unknown key {unknown[0]!r} (expected {', '.join(DEFAULTS)})")
    for key, value in data.items():
        if not isinstance(value, str) or not value:
            raise ConfigError(f"config file {path}: {key} must be a non-empty string, got {value!r}")
    return dict(data)


def resolve(flags: Mapping[str, str | None], env: Mapping[str, str] | None = None) -> Settings:
    """The settings from the flags given (None: not given), the environment and the config file."""
    env = os.environ if env is None else env
    path = config_path(env)
    from_file = load_file(path, required=bool(env.get(ENV_CONFIG)))
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for key, default in DEFAULTS.items():
        for value, source in (
            (flags.get(key), f"--{key}"),
            (env.get(ENV[key]) or None, ENV[key]),
            (from_file.get(key), str(path)),
            (default, "default"),
        ):
            if value is not None:
                values[key], sources[key] = value, source
                break
        else:
            values[key], sources[key] = None, "default"
    for key in ("org", "stage"):
        if not re.fullmatch(NAME_PATTERN, str(values[key])):
            raise ConfigError(
                f"{key} {values[key]!r} (from {sources[key]}) is not a valid name: expected lowercase "
                "letters, digits and hyphens, starting with a letter"
            )
    return Settings(
        org=str(values["org"]),
        stage=str(values["stage"]),
        region=values["region"],
        profile=values["profile"],
        sources=sources,
    )
