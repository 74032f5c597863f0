"""`burst`, the command line of burst-compute: one module per group of commands.

``app`` builds the parser and runs a command; ``common`` holds what every command shares; ``jobs``,
``diagnose`` and ``reports`` hold the commands themselves.
"""

from burst_client.cli.app import build_parser, main
from burst_client.cli.common import Exit

__all__ = ["Exit", "build_parser", "main"]
