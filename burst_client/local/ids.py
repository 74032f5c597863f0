"""Unique ids for the local endpoint's hot paths, drawn without releasing the interpreter lock.

``uuid.uuid4()`` reads ``os.urandom``, which releases the interpreter lock: in the endpoint, where the Step
Functions interpreter, the Map's children and the Lambda runtime share one lock, the calling thread then waits
for the lock to come back (up to the switch interval) once per id. Request ids, execution names and log
streams only need to be unique, not unpredictable: draw them from the ``random`` module, which keeps the lock.
"""

from __future__ import annotations

import random
import uuid


def uuid4() -> uuid.UUID:
    """A version 4 UUID from the ``random`` module (unique, not for secrets)."""
    return uuid.UUID(int=random.getrandbits(128), version=4)
