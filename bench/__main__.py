"""`python -m bench [name ...]`: run the benchmarks and write bench/results/."""

from __future__ import annotations

import argparse
import importlib

BENCHMARKS = [
    "dispatch_bench",
    "results_bench",
    "results_memory_bench",
    "endpoint_bench",
    "profile_overhead",
    "cost_bench",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; expected some of: {', '.join(BENCHMARKS)}")
    for name in args.names or BENCHMARKS:
        print(f"== {name}")
        importlib.import_module(f"bench.{name}").run()


if __name__ == "__main__":
    main()
