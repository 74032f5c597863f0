"""Helpers shared by the benchmarks: result files and a markdown table."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict[str, Any], table: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    lines = []
    if table:
        headers = list(table[0])
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        lines.extend("| " + " | ".join(str(row[h]) for h in headers) + " |" for row in table)
    path = RESULTS / f"{name}.md"
    path.write_text(f"# {name}\n\n{data.get('description', '')}\n\n" + "\n".join(lines) + "\n")
    print(path.read_text())
    return path
