"""A cost report: its line items at list prices, the facts it is based on, its assumptions, its text table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from burst_client.cost.prices import Prices


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    note: str = ""

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitPrice": self.unit_price,
            "cost": self.cost,
            "note": self.note,
        }


@dataclass
class CostReport:
    kind: str  # "estimate" or "actual"
    items: list[LineItem]
    prices: Prices
    facts: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)
    job_id: str | None = None
    # estimates: the job priced with each child workflow type (this report is the one dispatch would use)
    alternatives: dict[str, CostReport] = field(default_factory=dict)
    execution_type: str | None = None  # the child workflow type this report prices

    @property
    def total(self) -> float:
        return sum(item.cost for item in self.items)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.items:
            totals[item.service] = totals.get(item.service, 0.0) + item.cost
        return totals

    def find(self, service: str, item: str) -> LineItem:
        for line in self.items:
            if line.service == service and line.item == item:
                return line
        raise KeyError(f"no line item {service} / {item}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "jobId": self.job_id,
            "region": self.prices.region,
            "currency": self.prices.currency,
            "pricesAsOf": self.prices.as_of,
            "items": [item.as_dict() for item in self.items],
            "byService": self.by_service(),
            "total": self.total,
            "facts": self.facts,
            "assumptions": self.assumptions,
            "recheck": self.prices.recheck,
            "batchExecutionType": self.execution_type,
            "executionTypes": {
                kind: {"total": report.total, "byService": report.by_service(), "used": report is self}
                for kind, report in self.alternatives.items()
            },
        }

    def table(self) -> str:
        return format_table(self)


def _money(value: float) -> str:
    if 0 < abs(value) < 0.0000005:
        return "<0.000001"
    return f"{value:,.6f}"


def _price(value: float) -> str:
    return f"{value:.12f}".rstrip("0").rstrip(".") or "0"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def format_table(report: CostReport) -> str:
    """The report as a text table, with the facts it is based on, its assumptions and the price caveat."""
    currency = report.prices.currency
    heading = "Estimated cost" if report.kind == "estimate" else f"Cost of job {report.job_id}"
    lines = [f"{heading} ({report.prices.region}, {currency}, list prices as of {report.prices.as_of})"]
    if report.facts:
        lines.append("  " + ", ".join(f"{key}: {value}" for key, value in report.facts.items()))
    header = ("service", "item", "quantity", "unit", "unit price", "cost")
    rows = [
        (i.service, i.item, _quantity(i.quantity), i.unit, _price(i.unit_price), _money(i.cost)) for i in report.items
    ]
    widths = [max(len(str(row[c])) for row in [header, *rows]) for c in range(len(header))]
    right = {2, 4, 5}

    def line(row: Sequence[str]) -> str:
        cells = [
            str(v).rjust(w) if c in right else str(v).ljust(w) for c, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines += ["", line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows]
    lines.append(line(["-" * w for w in widths]))
    for service, amount in report.by_service().items():
        lines.append(line([service, "subtotal", "", "", "", _money(amount)]))
    lines.append(line(["TOTAL", "", "", "", "", f"{_money(report.total)} {currency}"]))
    if report.alternatives:
        lines += ["", "By child workflow type (batchExecutionType):"]
        width = max(len(kind) for kind in report.alternatives)
        for kind, other in report.alternatives.items():
            services = ", ".join(f"{service} {_money(amount)}" for service, amount in other.by_service().items())
            used = "  <- used" if other is report else ""
            lines.append(f"  {kind.ljust(width)}  {_money(other.total)} {currency}  ({services}){used}")
    if report.assumptions:
        lines += ["", "Assumptions:"] + [f"  - {text}" for text in report.assumptions]
    lines += ["", f"Prices: {report.prices.recheck}"]
    return "\n".join(lines)


class ItemBuilder:
    """Collects line items at the prices of one Prices."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.items: list[LineItem] = []

    def add(self, service: str, item: str, quantity: float, price_key: str, note: str = "") -> None:
        if quantity <= 0:
            return
        price = self.prices[price_key]
        self.items.append(LineItem(service, item, quantity, price.unit, price.unit_price, note))

    def lambda_function(self, key: str, requests: float, gb_seconds: float, note: str = "") -> None:
        self.add("Lambda", f"{key} requests", requests, "lambda.request", note)
        self.add("Lambda", f"{key} compute", gb_seconds, "lambda.gbSecondArm64", note)


def gb_seconds(milliseconds: float, memory_mb: float) -> float:
    return milliseconds / 1000 * memory_mb / 1024
