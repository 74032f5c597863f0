"""The workarounds' registry: each is a function that patches moto and returns how to undo it, registered with
:func:`workaround`, whose docstring names the gap (``Gap N: <the gap>``, then the details)."""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger(__name__)

Undo = Callable[[], None]
Apply = Callable[[], Undo]

_SUMMARY = re.compile(r"Gap (?P<number>\d+[a-z]?)(?: \([^)]*\))?: (?P<gap>.+)")


@dataclass(frozen=True)
class Workaround:
    name: str
    number: str  # as the gaps are numbered: "1", ..., "11b", ...
    gap: str  # the first paragraph of its docstring, after "Gap N: "
    apply: Apply

    @property
    def order(self) -> tuple[int, str]:
        digits = self.number.rstrip("abcdefghijklmnopqrstuvwxyz")
        return int(digits), self.number[len(digits) :]


_registered: dict[str, Workaround] = {}


def workaround(name: str) -> Callable[[Apply], Apply]:
    """Register the decorated function as workaround ``name``; its docstring starts with ``Gap N: <the gap>``."""

    def register(apply: Apply) -> Apply:
        summary = " ".join((inspect.getdoc(apply) or "").split("\n\n", 1)[0].split())
        match = _SUMMARY.fullmatch(summary)
        if match is None:
            raise ValueError(f"{apply.__qualname__}: its docstring must start with 'Gap N: <the gap>'")
        if name in _registered:
            raise ValueError(f"workaround {name!r} is registered twice")
        _registered[name] = Workaround(name, match["number"], match["gap"], apply)
        return apply

    return register


def workarounds() -> tuple[Workaround, ...]:
    """The registered workarounds, in the order of their numbers (the order they are applied in)."""
    return tuple(sorted(_registered.values(), key=lambda w: w.order))


def undo_all(undos: list[Undo]) -> Undo:
    """One undo for several patches (reverted in the reverse order)."""

    def undo() -> None:
        for each in reversed(undos):
            each()

    return undo


def patch(owner: Any, attribute: str, replacement: Any) -> Undo:
    original = owner.__dict__[attribute]
    setattr(owner, attribute, replacement)

    def undo() -> None:
        setattr(owner, attribute, original)

    return undo


def patch_inherited(owner: Any, attribute: str, replacement: Any) -> Undo:
    """As patch, for an attribute ``owner`` may only inherit (then undo deletes it again)."""
    if attribute in owner.__dict__:
        return patch(owner, attribute, replacement)
    setattr(owner, attribute, replacement)

    def undo() -> None:
        delattr(owner, attribute)

    return undo


_lock = threading.Lock()
_applied: dict[str, Undo] = {}


def apply(*names: str) -> list[str]:
    """Apply the named workarounds (all when none is named) that are not applied yet; return their names."""
    registered = workarounds()
    unknown = set(names) - {w.name for w in registered}
    if unknown:
        raise KeyError(f"unknown workaround(s): {', '.join(sorted(unknown))}")
    done = []
    with _lock:
        for each in registered:
            if (names and each.name not in names) or each.name in _applied:
                continue
            _applied[each.name] = each.apply()
            LOG.debug("applied workaround %s: %s", each.name, each.gap)
            done.append(each.name)
    return done


def apply_all() -> list[str]:
    return apply()


def revert(*names: str) -> None:
    """Undo the named workarounds (all when none is named)."""
    with _lock:
        for each in reversed(workarounds()):
            if (not names or each.name in names) and each.name in _applied:
                _applied.pop(each.name)()


@contextlib.contextmanager
def applied(*names: str) -> Iterator[None]:
    """Apply workarounds for the duration of the block (only those not applied before it)."""
    done = apply(*names)
    try:
        yield
    finally:
        if done:
            revert(*done)
