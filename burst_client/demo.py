"""`make run`: the main job on one machine.

Starts the local AWS endpoint, deploys burst-compute and the mask-search example to it with
`sls deploy`, dispatches a search for the images that best match a mask, shows progress, prints the
combiner's result and stops the endpoint.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from types import ModuleType
from typing import Any

from burst_client.aws import LOCAL_CREDENTIALS, Clients
from burst_client.deploy import PROJECT_ROOT, deploy
from burst_client.endpoint_process import EndpointProcess
from burst_client.errors import BurstClientError
from burst_client.sdk import BurstClient

EXAMPLE = PROJECT_ROOT / "examples" / "mask-search"
ORG, STAGE = "janelia", "local"


def load_imaging() -> ModuleType:
    """The example's imaging module (deterministic images and the mask score)."""
    spec = importlib.util.spec_from_file_location("mask_search_imaging", EXAMPLE / "mask_search" / "imaging.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mask_of(index: int) -> list[str]:
    """The mask that image ``index`` matches exactly (its 16 rows of pixels)."""
    imaging = load_imaging()
    bits = imaging.image(index)
    side = imaging.SIDE
    return ["".join("1" if bits >> (r * side + c) & 1 else "0" for c in range(side)) for r in range(side)]


def _step(message: str) -> float:
    print(f"==> {message}", flush=True)
    return time.monotonic()


def run(args: argparse.Namespace) -> dict[str, Any]:
    log = PROJECT_ROOT / ".burst-local" / "endpoint.log"
    started = _step(f"starting the local AWS endpoint on 127.0.0.1:{args.port} (log: {log})")
    with EndpointProcess(args.port, log) as url:
        os.environ.update({**LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL": url})
        t = _step(f"deploying burst-compute (npx sls deploy --stage {STAGE} --org {ORG})")
        deploy(PROJECT_ROOT, STAGE, ORG, endpoint_url=url)
        print(f"    done in {time.monotonic() - t:.1f} s")
        t = _step("deploying the mask-search example")
        deploy(EXAMPLE, STAGE, ORG, endpoint_url=url)
        print(f"    done in {time.monotonic() - t:.1f} s")
        client = BurstClient(ORG, STAGE, clients=Clients(endpoint_url=url))
        _step(
            f"searching {args.items} images in batches of {args.batch_size} for the best {args.top_k} "
            f"matches of the mask of image {args.target}"
        )
        job = client.dispatch(
            f"{ORG}-mask-search-{STAGE}-worker",
            f"{ORG}-mask-search-{STAGE}-combiner",
            0,
            args.items,
            batch_size=args.batch_size,
            job_parameters={"mask": mask_of(args.target), "topK": args.top_k},
        )
        print(f"    job {job.job_id}")
        status = job.wait(timeout=600, progress=True, poll_interval=0.5, max_poll_interval=2.0)
        output = job.output()
    print(f"\nJob {status.state}: {status.done} batches done, {status.failed} failed, {status.elapsed_secs:.1f} s")
    if output:
        print("Best matches (index: score):")
        for match in output["result"]["matches"]:
            print(f"  {match['index']:>8}: {match['score']:.4f}")
    else:
        print(f"error: {status.error}: {status.cause}")
    print(f"(make run took {time.monotonic() - started:.1f} s)")
    return {"status": status, "output": output}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BURST_LOCAL_PORT", "4566")))
    parser.add_argument("--items", type=int, default=20_000, help="images to search (default 20000)")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--target", type=int, default=12_345, help="image whose mask is searched for")
    args = parser.parse_args(argv)
    try:
        result = run(args)
    except BurstClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if result["status"].state == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
