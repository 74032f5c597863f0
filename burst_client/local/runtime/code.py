"""Deployment packages and layers on disk: the endpoint's work directory, zips unpacked once per content.

A function's code is unpacked once per CodeSha256 into ``code/`` (the cache survives redeploys of other code).
Its layers are unpacked, in their order, into one directory per list of layer *contents* under ``opt/`` (the
local /opt; see :mod:`.environment` for how a worker finds them): "The order in which you add the layers is the
order in which Lambda merges the layer content into the execution environment"
(https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html), a later layer's file replacing an earlier
one's. Layer directories are keyed by the versions' CodeSha256, not their ARNs: an endpoint restarted with the
same work directory publishes ``...:layer:x:1`` again, with whatever content it is given then.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from burst_client.local.runtime.spec import LocalLambdaError

WORK_DIR_PREFIX = "burst-local-"
OWNER_FILE = "owner.pid"

CodeLoader = Callable[[], bytes]


class LayerError(Exception):
    """A layer of a function cannot be had (unknown version, not a zip file)."""


@dataclass(frozen=True)
class LayerContent:
    """A layer version's deployment package and its CodeSha256 (base64 SHA-256 of the zip, as Lambda gives it)."""

    code_sha256: str
    zip_file: bytes


#: A layer version's content from its ARN (raises LayerError when there is no such version).
LayerLoader = Callable[[str], LayerContent]


def create_work_dir() -> Path:
    """A temporary work directory owned by this process (see remove_stale_work_dirs)."""
    remove_stale_work_dirs()
    work_dir = Path(tempfile.mkdtemp(prefix=WORK_DIR_PREFIX))
    (work_dir / OWNER_FILE).write_text(str(os.getpid()))
    return work_dir


def remove_stale_work_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the temporary work directories of endpoints that died without cleaning up (SIGKILL)."""
    removed = []
    for candidate in Path(parent or tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*"):
        try:
            owner = int((candidate / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or being created
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
        except PermissionError:
            continue  # alive, someone else's
    return removed


def extract_zip(content: bytes, target: Path) -> None:
    """Unpack a zip into ``target`` (files already there are replaced); zipfile.BadZipFile if it is none."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(target)


class UnpackedDirs:
    """Directories under ``root`` filled once each, by name: concurrent callers wait for the first one, and a
    directory appears whole (filled in a staging directory, then renamed) or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dirs: dict[str, Path] = {}
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def get(self, name: str, fill: Callable[[Path], None]) -> Path:
        """The directory ``name``; ``fill(staging)`` writes its content the first time (also across restarts
        of an endpoint with the same work directory: a directory on disk is taken as it is)."""
        found = self._dirs.get(name)
        if found is not None:
            return found
        with self._lock:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            found = self._dirs.get(name)
            if found is not None:
                return found
            target = self.root / name
            if not target.is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
                try:
                    fill(staging)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                staging.rename(target)
            self._dirs[name] = target
            return target


def code_dir_name(code_sha256: str) -> str:
    """A directory name for a CodeSha256 (hex of the hash; something file-safe if it is no base64)."""
    try:
        return base64.b64decode(code_sha256, validate=True).hex()
    except (binascii.Error, ValueError):
        return "".join(c if c.isalnum() else "_" for c in code_sha256) or "empty"


class CodeDirs:
    """The functions' deployment packages, unpacked once per code hash."""

    def __init__(self, root: Path) -> None:
        self._dirs = UnpackedDirs(root)

    def get(self, code_sha256: str, code: CodeLoader) -> Path:
        def fill(staging: Path) -> None:
            try:
                extract_zip(code(), staging)
            except zipfile.BadZipFile as exc:
                raise LocalLambdaError(f"the deployment package {code_sha256} is not a zip file") from exc

        return self._dirs.get(code_dir_name(code_sha256), fill)


class LayerDirs:
    """The merged layer directories (the local /opt) of the functions a runtime runs, unpacked once each."""

    def __init__(self, root: Path, loader: LayerLoader | None = None) -> None:
        self.loader = loader
        self._dirs = UnpackedDirs(root)

    def opt_dir(self, layers: tuple[str, ...]) -> Path:
        """The directory holding the layer versions ``layers`` (ARNs) merged in their order."""
        contents = [(arn, self._load(arn)) for arn in layers]
        name = hashlib.sha256("\n".join(content.code_sha256 for _, content in contents).encode()).hexdigest()[:32]

        def fill(staging: Path) -> None:
            for arn, content in contents:  # a later layer's files replace an earlier one's, as on Lambda
                try:
                    extract_zip(content.zip_file, staging)
                except zipfile.BadZipFile as exc:
                    raise LayerError(f"the content of layer {arn} is not a zip file") from exc

        return self._dirs.get(name, fill)

    def _load(self, arn: str) -> LayerContent:
        if self.loader is None:
            raise LayerError(f"the function uses layer {arn}, but this runtime has no way to read layers")
        return self.loader(arn)
