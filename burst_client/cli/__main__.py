"""``python -m burst_client.cli``."""

import sys

from burst_client.cli.app import main

sys.exit(main())
