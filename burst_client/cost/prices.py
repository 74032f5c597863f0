"""List prices (``prices.json``, one region: re-check them before relying on them) and Express billing rules."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burst_client.errors import CostError

PRICES_PATH = Path(__file__).with_name("prices.json")
MIB = 1024 * 1024


@dataclass(frozen=True)
class Price:
    key: str
    listed: float  # as listed: ``listed`` per ``per`` units
    per: int
    unit: str
    source: str

    @property
    def unit_price(self) -> float:
        return self.listed / self.per


@dataclass(frozen=True)
class ExpressBilling:
    """How an EXPRESS execution's duration is billed (``prices.json``, rules.stepfunctions.express)."""

    rounding_ms: int  # the duration is rounded up to this
    chunk_mb: int  # memory is billed in chunks of this
    base_mb: int  # memory used besides the definition and the execution's data

    def billed_ms(self, duration_ms: float) -> int:
        return max(1, math.ceil(max(duration_ms, 0.0) / self.rounding_ms)) * self.rounding_ms

    def chunks(self, definition_bytes: int, data_bytes: int) -> int:
        """64 MB chunks of 50 MB + the definition + the execution's data (at least one)."""
        used = self.base_mb * MIB + definition_bytes + data_bytes
        return max(1, math.ceil(used / (self.chunk_mb * MIB)))

    def gb_seconds(self, duration_ms: float, chunks: int) -> float:
        return self.billed_ms(duration_ms) / 1000 * chunks * self.chunk_mb / 1024


@dataclass(frozen=True)
class Prices:
    region: str
    currency: str
    as_of: str
    recheck: str
    prices: Mapping[str, Price]
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise CostError(f"prices file has no price {key!r}") from None

    def express_billing(self) -> ExpressBilling:
        rule = self.rules.get("stepfunctions.express") or {}
        try:
            return ExpressBilling(
                int(rule["durationRoundingMs"]), int(rule["memoryChunkMb"]), int(rule["baseMemoryMb"])
            )
        except (KeyError, TypeError, ValueError):
            raise CostError("prices file has no valid rules.stepfunctions.express (Express billing rules)") from None


def load_prices(path: str | Path = PRICES_PATH) -> Prices:
    """The list prices of ``prices.json`` (or another file of the same shape)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
        prices = {
            key: Price(key, float(entry["price"]), int(entry["per"]), str(entry["unit"]), str(entry["source"]))
            for key, entry in data["prices"].items()
        }
        rules = {str(key): dict(value) for key, value in (data.get("rules") or {}).items()}
        return Prices(
            str(data["region"]), str(data["currency"]), str(data["pricesAsOf"]), str(data["recheck"]), prices, rules
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CostError(f"cannot read prices from {source}: {exc}") from exc
