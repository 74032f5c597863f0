"""An invocation's log lines as Lambda writes them: START, the function's output, END and REPORT, echoed to the
console, kept for ``LogType=Tail`` and handed to CloudWatch Logs (:mod:`burst_client.local.function_logs`)."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field

from burst_client.local.runtime.spec import FunctionSpec

#: Output of the functions' own code (print, logging, tracebacks), one record per line.
FUNCTION_LOG = logging.getLogger("burst_client.local.functions")
LOG_TAIL_BYTES = 4096


def peak_memory_kb(pid: int) -> int:
    """The peak resident memory of process ``pid`` (VmHWM) in kB, 0 when it cannot be read (it has exited).

    Only a living process has it: neither /proc of an exited one nor the kernel's rusage of the child (which
    counts the endpoint's own memory, shared with the child until it executed the bootstrap) tells it after."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass
class InvocationLog:
    """Log lines of one invocation: echoed to the console as they come, kept for LogType=Tail."""

    function_name: str
    request_id: str
    lines: list[str] = field(default_factory=list)
    size: int = 0
    events: list[tuple[int, str]] | None = None  # every line with its epoch ms, for CloudWatch Logs
    stream: str = ""  # the log stream of the worker that runs the invocation

    def add(self, line: str, console: bool = True) -> None:
        if console:
            FUNCTION_LOG.info("[%s %s] %s", self.function_name, self.request_id, line)
        if self.events is not None:
            self.events.append((time.time_ns() // 1_000_000, line))
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > 4 * LOG_TAIL_BYTES and len(self.lines) > 1:
            self.size -= len(self.lines.pop(0)) + 1

    def start(self, version: str) -> None:
        self.add(f"START RequestId: {self.request_id} Version: {version}", console=False)

    def end(self, spec: FunctionSpec, duration_ms: float, memory_used_mb: int, init_ms: float | None) -> None:
        """The END and REPORT lines (the REPORT also on the console at DEBUG)."""
        report = (
            f"REPORT RequestId: {self.request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: "
            f"{max(1, int(duration_ms + 0.999))} ms\tMemory Size: {spec.memory_size} MB\t"
            f"Max Memory Used: {memory_used_mb} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        self.add(f"END RequestId: {self.request_id}", console=False)
        self.add(report, console=False)
        if FUNCTION_LOG.isEnabledFor(logging.DEBUG):
            FUNCTION_LOG.debug("[%s %s] %s", spec.name, self.request_id, report.split("\t", 1)[1])

    def tail(self) -> str:
        data = ("\n".join(self.lines) + "\n").encode()[-LOG_TAIL_BYTES:]
        return base64.b64encode(data).decode()


def wants_report(log_tail: bool) -> bool:
    """Whether an invocation's REPORT line is read here (for LogType=Tail or the DEBUG console), so that its
    memory is worth reading on the invocation's path; otherwise the log writer fills it in."""
    return log_tail or FUNCTION_LOG.isEnabledFor(logging.DEBUG)


def utc_now() -> str:
    """Now, as Lambda's runtime timestamps its own lines (milliseconds, Z)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
