"""The commands that report on a job or the settings: timeline, cost, config."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from burst_client import cost, timeline
from burst_client.cli import common
from burst_client.settings import config_path


def cmd_timeline(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    built = timeline.build_timeline(job)
    html = timeline.render_html(built, args.html or Path(f"timeline-{job.job_id}.html"))
    png: Path | None = None
    if args.png is not None or importlib.util.find_spec("matplotlib") is not None:
        png = timeline.render_png(built, args.png or Path(f"timeline-{job.job_id}.png"))
        text = f"timeline written to {html} and {png}"
    else:  # the HTML needs nothing more; the PNG only when asked for, or when matplotlib is there anyway
        text = f"timeline written to {html} (for a PNG too: pip install 'burst-compute[plot]')"
    common.emit(args, {"html": str(html), "png": str(png) if png else None, **built.as_dict()}, text)
    return common.Exit.OK


def cmd_cost(args: argparse.Namespace) -> int:
    if args.estimate:
        if args.items is None or args.worker_ms is None:
            raise common.UsageError("cost --estimate needs --items and --worker-ms")
        report = cost.estimate(
            args.items,
            args.batch_size,
            args.worker_ms,
            args.worker_mb,
            max_parallelism=args.max_parallelism,
            worker_timeout_secs=args.worker_timeout_secs,
            execution_type=args.execution_type,
        )
    else:
        if not args.job_id:
            raise common.UsageError("cost needs a JOB_ID, or --estimate with --items and --worker-ms")
        report = cost.actual(common.client(args).job(args.job_id))
    common.emit(args, report.as_dict(), report.table())
    return common.Exit.OK


def cmd_config(args: argparse.Namespace) -> int:
    settings = common.settings_of(args)
    lines = [
        f"{key:<8} {value if value is not None else '(boto3 default)':<24} from {settings.sources[key]}"
        for key, value in (
            ("org", settings.org),
            ("stage", settings.stage),
            ("region", settings.region),
            ("profile", settings.profile),
        )
    ]
    lines.append(f"stack    {settings.org}-burst-compute-{settings.stage}")
    lines.append(f"config file: {config_path()}{'' if config_path().exists() else ' (none)'}")
    common.emit(args, {**settings.as_dict(), "configFile": str(config_path())}, "\n".join(lines))
    return common.Exit.OK
