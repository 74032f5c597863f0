"""`make run` refuses clearly when it cannot start (the full run is what tests/e2e exercise)."""

import socket
import subprocess
import sys

from burst_client.demo import load_imaging, mask_of
from tests.support import ROOT


def test_port_taken_is_one_clear_line():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        out = subprocess.run(
            [sys.executable, "-m", "burst_client.demo", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 2
    assert f"error: port {port} on 127.0.0.1 is in use" in out.stderr
    assert "Traceback" not in out.stderr


def test_the_demo_mask_matches_exactly_its_target_image():
    imaging = load_imaging()
    bits, care = imaging.parse_mask(mask_of(12_345))
    assert imaging.score(12_345, bits, care) == 1.0
    assert imaging.score(12_346, bits, care) < 1.0
