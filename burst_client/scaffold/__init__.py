"""`burst init DIR`: a service of your own for burst-compute, ready to deploy and test.

The service is a worker and a combiner (Python, with burst_core's helpers from burst-compute's layer), their
serverless.yml (osls, pinned in package.json, with a small plugin of its own that declares --org and names a
missing burst-compute stack clearly), a unit test and a test that runs a whole job on the local AWS endpoint
(burst_client.testing). The templates are this package's data (``template/``): ``__package__`` becomes the
service's Python package, ``*.tmpl`` files lose that suffix (they are no Python of this package), ``gitignore``
becomes ``.gitignore``, and ``{{service}}``, ``{{package}}``, ``{{org}}``, ``{{osls_version}}`` and
``{{burst_version}}`` (the version ``requirements-dev.txt`` pins burst-compute to) are replaced.

`burst init` follows the CLI's conventions: the org is ``--org``, else ``BURST_ORG``, else the config file
(:func:`burst_client.settings.resolve`), and ``--json`` (before or after ``init``) prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from burst_client import version
from burst_client.errors import BurstClientError
from burst_client.settings import DEFAULTS, ConfigError, resolve

#: The osls (Serverless Framework v3) the service pins: the version burst-compute itself is deployed with
#: (its package.json and package-lock.json; tests/scaffold checks they agree).
OSLS_VERSION = "4.3.1"
DEFAULT_ORG = str(DEFAULTS["org"])  # the CLI's default org (init_service's)
EXIT_OK, EXIT_USAGE = 0, 2
# lowercase letters and digits, words joined by single hyphens: valid in Lambda, IAM, S3 and CloudFormation names
NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Lambda function and IAM role names are at most 64 characters: <org>-<service>-<stage>-combiner and
# <org>-<service>-<stage>-<region>-combiner must fit with a short stage (the service's plugin checks them)
MAX_NAME_LENGTH = 30
PACKAGE_DIR = "__package__"
TEMPLATE_SUFFIX = ".tmpl"
RESERVED_PACKAGES = {"burst_core", "burst_client", "tests", "plugins", "node_modules", "conftest"}
# a PEP 440 version's epoch and release segment ("1!2.0", "0.1.0"), at its start
RELEASE = re.compile(r"(?:\d+!)?(\d+(?:\.\d+)*)")


class ScaffoldError(BurstClientError):
    """The service cannot be created as asked (the message says why)."""


def compatible_version(installed: str) -> str:
    """The version to pin burst-compute to with ``~=`` (compatible release), from ``installed`` (a PEP 440
    version): without its local part, which ``~=`` does not allow (``0.1.0+g1234`` -> ``0.1.0``), and with
    at least two release numbers, which ``~=`` needs (``0+unknown`` -> ``0.0``). Pre-, post- and
    development-release parts are kept, so the version installed still satisfies the pin."""
    public = installed.strip().split("+", 1)[0]
    match = RELEASE.match(public)
    if match is None:
        raise ScaffoldError(f"burst-compute's version {installed!r} is not a PEP 440 version: reinstall it")
    if "." not in match.group(1):
        return f"{match.group()}.0{public[match.end() :]}"
    return public


def check_name(value: str, what: str, hint: str = "") -> str:
    if not NAME.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ScaffoldError(
            f"{what} {value!r} is not valid: lowercase letters, digits and single hyphens, starting with a letter, "
            f"at most {MAX_NAME_LENGTH} characters (e.g. my-search){hint}"
        )
    return value


def package_name(service: str) -> str:
    """The service's Python package: its name with underscores; never one that shadows another module."""
    package = service.replace("-", "_")
    if keyword.iskeyword(package) or package in RESERVED_PACKAGES or package in sys.stdlib_module_names:
        raise ScaffoldError(
            f"service name {service!r} would make a Python package {package!r} that hides another module: "
            "choose another name (--name)"
        )
    return package


def _files(template: Traversable, relative: Path = Path()) -> list[tuple[Path, Traversable]]:
    found = []
    for entry in sorted(template.iterdir(), key=lambda item: item.name):
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found.extend(_files(entry, relative / entry.name))
        else:
            found.append((relative / entry.name, entry))
    return found


def _target(relative: Path, package: str) -> Path:
    parts = [package if part == PACKAGE_DIR else part for part in relative.parts]
    name = parts[-1].removesuffix(TEMPLATE_SUFFIX)
    parts[-1] = ".gitignore" if name == "gitignore" else name
    return Path(*parts)


def render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def service_name(directory: Path, name: str | None = None) -> str:
    """The service's name: ``name``, else ``directory``'s (ScaffoldError if it is no valid name)."""
    if name:
        return check_name(name, "service name")
    return check_name(directory.resolve().name, "service name", ", taken from the directory: pass --name")


def init_service(
    directory: Path, *, name: str | None = None, org: str = DEFAULT_ORG, force: bool = False
) -> list[Path]:
    """Write a new service into ``directory``; returns the files written. Refuses (ScaffoldError) a bad name or
    org, and a non-empty ``directory`` unless ``force``; never overwrites a file."""
    service = service_name(directory, name)
    check_name(org, "org")
    package = package_name(service)
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(f"{directory} exists and is not a directory")
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ScaffoldError(
            f"{directory} is not empty: choose a new directory, or add --force to write the service's files into "
            "it (existing files are never overwritten)"
        )
    values = {
        "service": service,
        "package": package,
        "org": org,
        "osls_version": OSLS_VERSION,
        "burst_version": compatible_version(version()),
    }
    planned = [(directory / _target(relative, package), source) for relative, source in _files(_template())]
    clashes = [path for path, _ in planned if path.exists() or path.is_symlink()]
    if clashes:
        listed = ", ".join(str(path.relative_to(directory)) for path in clashes)
        raise ScaffoldError(f"{directory} already has {listed}: nothing was written (files are never overwritten)")
    for path, source in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(source.read_text(encoding="utf-8"), values), encoding="utf-8")
    return [path for path, _ in planned]


def _template() -> Traversable:
    return resources.files(__name__) / "template"


def next_steps(directory: Path, service: str, count: int, org: str) -> str:
    """What `burst init` prints: what it wrote and what to do next."""
    steps = [
        (f"cd {directory}", ""),
        ("npm install", f"osls {OSLS_VERSION}: the service's own `npx sls`"),
        (f"npx sls deploy -s dev --org {org}", "after deploying burst-compute with the same org and stage"),
        ("python -m pytest", "the tests, on a local AWS endpoint"),
    ]
    width = max(len(command) for command, note in steps if note) + 2
    lines = [
        f"created {service} in {directory} ({count} files): a worker and a combiner ({package_name(service)}/), "
        "serverless.yml, tests/",
        "",
        "next (README.md has the details):",
        *(f"  {command.ljust(width)}# {note}" if note else f"  {command}" for command, note in steps),
    ]
    return "\n".join(lines) + "\n"


def run_init(args: argparse.Namespace) -> int:
    """The `burst init` command: returns the exit code (2 when the service cannot be created as asked).

    ``args`` may lack ``org`` and ``json`` (the CLI's global options default to SUPPRESS): the org is then
    BURST_ORG's, the config file's or the default, and the output text."""
    try:
        settings = resolve({"org": getattr(args, "org", None)})
        org = check_name(settings.org, "org", f", from {settings.sources['org']}")
        service = service_name(args.directory, args.name)
        written = init_service(args.directory, name=service, org=org, force=args.force)
    except (ConfigError, ScaffoldError) as exc:
        print(f"burst: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "json", False):
        document = {
            "directory": str(args.directory.resolve()),
            "service": service,
            "package": package_name(service),
            "org": org,
            "files": [path.relative_to(args.directory).as_posix() for path in written],
        }
        print(json.dumps(document))
    else:
        print(next_steps(args.directory, service, len(written), org), end="")
    return EXIT_OK


EPILOG = """\
examples:
  burst init my-search                         # service my-search, org janelia (or $BURST_ORG), in ./my-search
  burst init services/search --name mask-search --org myorg
  burst init my-search --json                  # what was written, as one JSON document
"""


def own_options() -> argparse.ArgumentParser:
    """The CLI's global options `burst init` uses, --org and --json, for a parser without the CLI's own
    (their defaults are SUPPRESS, as the CLI's: a value given before `init` survives)."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--org",
        default=argparse.SUPPRESS,
        help=f"the org the service deploys with by default, as burst-compute ($BURST_ORG, the config file; "
        f"{DEFAULT_ORG})",
    )
    options.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output: one JSON document"
    )
    return options


def add_init_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """Register `burst init` on ``subparsers`` (of the `burst` parser); returns its parser, whose ``func``
    default is :func:`run_init`. ``parents``: the parsers of the CLI's global options (which must include
    --org and --json), as its other commands have; without them, :func:`own_options`."""
    description = "create a service of your own: a worker, a combiner, serverless.yml and tests"
    parser = subparsers.add_parser(
        "init",
        help=description,
        description=description[0].upper() + description[1:] + ".",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=list(parents) or [own_options()],
    )
    parser.add_argument("directory", type=Path, metavar="DIR", help="where to create it (new or empty)")
    parser.add_argument(
        "--name", help="the service's name: lowercase letters, digits and hyphens (default: DIR's name)"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty DIR (existing files are never overwritten)"
    )
    parser.set_defaults(func=run_init)
    return parser
