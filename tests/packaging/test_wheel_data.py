"""The built wheel ships the cost report's data: an installed `burst cost --estimate` needs no source tree."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.packaging


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("burst_compute-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_holds_the_real_definition_and_the_prices(wheel: zipfile.ZipFile) -> None:
    shipped = wheel.read("burst_client/cost/step-functions.yml")
    assert shipped == (ROOT / "step-functions.yml").read_bytes()  # the file, not the link
    assert b'"prices"' in wheel.read("burst_client/cost/prices.json")


def test_definition_read_from_the_wheel_walks(wheel: zipfile.ZipFile, tmp_path: Path) -> None:
    wheel.extractall(tmp_path)
    script = (
        "from burst_client.cost import estimate, load_definitions, STEP_FUNCTIONS_YML\n"
        "assert not STEP_FUNCTIONS_YML.is_symlink(), STEP_FUNCTIONS_YML\n"
        "print(len(load_definitions()), estimate(100, 10, 1000, 512).total > 0)\n"
    )
    # the unpacked wheel first on the path, and not the source tree (-P: no script directory, -I would drop site)
    ran = subprocess.run(
        [sys.executable, "-P", "-c", script],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["2", "True"]


def test_wheel_declares_pyyaml(wheel: zipfile.ZipFile) -> None:
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    metadata = email.message_from_bytes(wheel.read(name))
    assert any(requirement.lower().startswith("pyyaml") for requirement in metadata.get_all("Requires-Dist", []))
