"""What every `burst` command shares: exit statuses, argument types, the global options and the
settings they resolve to, the client they open, and how a command prints (text or one JSON document)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, TextIO

from burst_client.aws import Clients
from burst_client.sdk import BurstClient, JobState
from burst_client.settings import ENV, Settings, resolve


class Exit(IntEnum):
    """The exit status of a `burst` command (listed in `burst --help`)."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    JOB_TIMED_OUT = 3
    JOB_CANCELLED = 4
    ERROR = 5
    STILL_RUNNING = 6
    ALREADY_ENDED = 7
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it
    BROKEN_PIPE = 141  # the reader of stdout went away (`burst results JOB | head`): 128 + SIGPIPE


STATE_EXIT = {
    JobState.SUCCEEDED: Exit.OK,
    JobState.FAILED: Exit.JOB_FAILED,
    JobState.TIMED_OUT: Exit.JOB_TIMED_OUT,
    JobState.CANCELLED: Exit.JOB_CANCELLED,
}


class UsageError(Exception):
    """A command-line value is wrong (exit code 2)."""


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None


def json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return parsed


def global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes, before or after the command's name. Their defaults are
    SUPPRESS at both levels, so a value given at either level survives; `_settings` resolves the rest."""
    parser.add_argument(
        "--org", default=argparse.SUPPRESS, help=f"organisation the stack was deployed with (${ENV['org']}; janelia)"
    )
    parser.add_argument(
        "-s", "--stage", default=argparse.SUPPRESS, help=f"stage the stack was deployed with (${ENV['stage']}; dev)"
    )
    parser.add_argument(
        "--region", default=argparse.SUPPRESS, help=f"AWS region (${ENV['region']}; else the profile's or AWS_REGION)"
    )
    parser.add_argument("--profile", default=argparse.SUPPRESS, help=f"AWS profile (${ENV['profile']}; AWS_PROFILE)")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output: one JSON document"
    )


def settings_of(args: argparse.Namespace) -> Settings:
    return resolve({key: getattr(args, key, None) for key in ("org", "stage", "region", "profile")})


def client(args: argparse.Namespace) -> BurstClient:
    settings = settings_of(args)
    return BurstClient(settings.org, settings.stage, clients=Clients(region=settings.region, profile=settings.profile))


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def emit(args: argparse.Namespace, data: Any, text: str, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    print(json.dumps(data) if wants_json(args) else text, file=stream)


def format_ranges(pairs: Sequence[Sequence[int]]) -> str:
    """[first, next) ranges of batch ids as "3, 5-9, 12"."""
    return ", ".join(str(first) if after == first + 1 else f"{first}-{after - 1}" for first, after in pairs)
