"""Lambda layers for the local runtime: a function's layers merged into one directory, as Lambda merges them into /opt.

On AWS, "Lambda loads the layer content into the /opt directory of that execution environment", and a Python
function finds the layers' packages in ``python`` and ``python/lib/python3.x/site-packages``, executables in
``bin`` (PATH) and libraries in ``lib`` (LD_LIBRARY_PATH)
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths). "The order in which
you add the layers is the order in which Lambda merges the layer content into the execution environment"
(https://docs.aws.amazon.com/lambda/latest/dg/adding-layers.html): a later layer's file replaces an earlier one's.
Lambda's Python runtime then looks in the function's code first, in the layers next, in its own libraries
(boto3) last: ``sys.path`` is ``/var/task, /opt/python/lib/python3.12/site-packages, /opt/python, ...``.

Here the layers of a function are unpacked, in their order, into one directory per list of layer versions (the
content of a layer version never changes), which the worker gets on PYTHONPATH (after the function's code, which
the bootstrap puts first, and before the interpreter's own site-packages), PATH and LD_LIBRARY_PATH.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

#: A layer version's deployment package (zip) from its ARN.
LayerLoader = Callable[[str], bytes]


class LayerError(Exception):
    """A layer of a function cannot be had (unknown version, not a zip file)."""


class LayerDirs:
    """The merged layer directories (the local /opt) of the functions a runtime runs, unpacked once each."""

    def __init__(self, root: Path, loader: LayerLoader | None = None) -> None:
        self.root = root
        self.loader = loader
        self._dirs: dict[tuple[str, ...], Path] = {}
        self._lock = threading.Lock()
        self._locks: dict[tuple[str, ...], threading.Lock] = {}

    def opt_dir(self, layers: tuple[str, ...]) -> Path:
        """The directory holding the layer versions ``layers`` (ARNs) merged in their order."""
        found = self._dirs.get(layers)
        if found is not None:
            return found
        with self._lock:
            lock = self._locks.setdefault(layers, threading.Lock())
        with lock:
            found = self._dirs.get(layers)
            if found is not None:
                return found
            target = self.root / hashlib.sha256("\n".join(layers).encode()).hexdigest()[:32]
            if not target.is_dir():
                self.root.mkdir(parents=True, exist_ok=True)
                staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.root))
                try:
                    for arn in layers:
                        self._extract(arn, staging)
                except BaseException:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
                staging.rename(target)
            self._dirs[layers] = target
            return target

    def _extract(self, arn: str, target: Path) -> None:
        if self.loader is None:
            raise LayerError(f"the function uses layer {arn}, but this runtime has no way to read layers")
        content = self.loader(arn)
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                archive.extractall(target)  # a later layer's files replace an earlier one's, as on Lambda
        except zipfile.BadZipFile as exc:
            raise LayerError(f"the content of layer {arn} is not a zip file") from exc

    def environment(self, layers: tuple[str, ...], runtime: str, base: Mapping[str, str]) -> dict[str, str]:
        """The variables a worker with these layers needs on top of ``base`` (its environment so far):
        PYTHONPATH (before a PYTHONPATH of the function's own), PATH and LD_LIBRARY_PATH. Empty without layers."""
        if not layers:
            return {}
        opt = self.opt_dir(layers)
        python = opt / "python"
        # python3.12 -> python/lib/python3.12/site-packages, the layer path of the function's runtime
        paths = [str(python / "lib" / runtime / "site-packages"), str(python)]

        def prepend(name: str, entries: list[str]) -> str:
            return os.pathsep.join([*entries, *filter(None, [base.get(name)])])

        return {
            "PYTHONPATH": prepend("PYTHONPATH", paths),
            "PATH": prepend("PATH", [str(opt / "bin")]),
            "LD_LIBRARY_PATH": prepend("LD_LIBRARY_PATH", [str(opt / "lib")]),
        }


def moto_layer_content(arn: str) -> bytes:
    """A layer version's zip as the endpoint's moto holds it (in-process, as the function code is read), also
    after the version was deleted: on AWS, functions that use a deleted layer version keep running with it."""
    from burst_client.local import workarounds  # noqa: PLC0415 - it imports moto

    version = workarounds.layer_version(arn)
    if version is None:
        raise LayerError(f"layer version {arn} does not exist (deploy the stack that publishes it first)")
    return bytes(version.code_bytes)
