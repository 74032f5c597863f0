"""``python -m burst_client.local up [--port 4566] [--concurrency 1000]``."""

import sys

from burst_client.local.cli import main

sys.exit(main())
