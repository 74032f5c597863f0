"""DynamoDB gaps (speed): UpdateItem, answers' serialisation, projections."""

from __future__ import annotations

import decimal
import functools
import inspect
import re
import types
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import DYNAMODB_CONTEXT
from moto.core.serialize import JSONSerializer
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from burst_client.local.moto_patches.registry import Undo, patch, patch_inherited, undo_all, workaround


@workaround("plain-update-item")
def _apply_plain_update_item() -> Undo:
    """Gap 24 (speed): UpdateItem deep-copies and traverses its expression's syntax tree ten times, twice for a new item

    UpdateItem parses its UpdateExpression into a syntax tree, deep-copies the tree and the item, and runs ten
    validating traversals of it, twice when the item is new (DynamoDBBackend.update_item, UpdateExpressionValidator):
    about a quarter of the endpoint's interpreter time in a job of no-op batches, whose rows the state machine writes
    with UpdateItem. Apply the plain actions (`SET #a = :v`, `SET #a = if_not_exists(#b, :v)`, `REMOVE #a`, on top-level
    attributes that are not keys or indexed, without a condition) directly, with the result moto's executor gives; leave
    everything else, errors included, to moto. The handler (DynamoHandler.update_item) also parses the expression on
    every call, only to list the names and values it uses: it reads the tree and never changes it, so parse each
    expression once.
    """
    original = DynamoDBBackend.__dict__["update_item"]

    signature = inspect.signature(original)

    @functools.wraps(original)
    def update_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        call = signature.bind(self, *args, **kwargs)
        call.apply_defaults()
        a = call.arguments
        key, names, values = a["key"], a["expression_attribute_names"] or {}, a["expression_attribute_values"] or {}
        plain = not (a["attribute_updates"] or a["expected"] or a["condition_expression"])
        update = plain_update(a["update_expression"]) if plain else None
        table = self.get_table(a["table_name"])
        if update is None or table.stream_shard is not None or set(key) != set(table.attribute_keys):
            return original(self, *args, **kwargs)
        placeholders = [t for t, _, _ in update.sets] + [p for _, p, _ in update.sets if p] + list(update.removes)
        if any(p not in names for p in placeholders) or any(v not in values for _, _, v in update.sets):
            return original(self, *args, **kwargs)
        targets = [names[t] for t, _, _ in update.sets] + [names[t] for t in update.removes]
        indexed = {attribute["AttributeName"] for attribute in table.attr}
        if len(set(targets)) != len(targets) or indexed & set(targets):
            return original(self, *args, **kwargs)
        if any(set(values[v]) - _PLAIN_TYPES for _, _, v in update.sets):  # sets, empty or not, are moto's
            return original(self, *args, **kwargs)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if hash_value.type != table.hash_key_type or (range_value and range_value.type != table.range_key_type):
            return original(self, *args, **kwargs)
        item = table.get_item(hash_value, range_value) or table.put_item(dict(key))
        # every operand is read from the item as it was before the update
        before = dict(item.attrs)
        try:
            for target, path, value in update.sets:
                existing = before.get(names[path]) if path is not None else None
                item.attrs[names[target]] = existing if existing is not None else DynamoType(values[value])
            for target in update.removes:
                item.attrs.pop(names[target], None)
        except ItemSizeTooLarge:
            raise ItemSizeToUpdateTooLarge() from None
        return item

    parser = dynamodb_responses.__dict__["UpdateExpressionParser"]
    cached_parser = types.SimpleNamespace(make=functools.lru_cache(maxsize=1024)(parser.make))
    undos = [
        patch(DynamoDBBackend, "update_item", update_item),
        patch(dynamodb_responses, "UpdateExpressionParser", cached_parser),
    ]
    return undo_all(undos)


_NAME, _VALUE = r"#[A-Za-z0-9_]+", r":[A-Za-z0-9_]+"
_SET_ACTION = rf"({_NAME})\s*=\s*(?:if_not_exists\s*\(\s*({_NAME})\s*,\s*({_VALUE})\s*\)|({_VALUE}))"
_PLAIN_UPDATE = re.compile(
    rf"\s*SET\s+(?P<set>{_SET_ACTION}(?:\s*,\s*{_SET_ACTION})*)"
    rf"(?:\s+REMOVE\s+(?P<remove>{_NAME}(?:\s*,\s*{_NAME})*))?\s*",
    re.IGNORECASE,
)


_PLAIN_TYPES = {"S", "N", "B", "BOOL", "NULL"}


@dataclass(frozen=True)
class PlainUpdate:
    """An UpdateExpression of plain actions: SET (target, if_not_exists path or None, value), REMOVE targets."""

    sets: tuple[tuple[str, str | None, str], ...]
    removes: tuple[str, ...]


def plain_update(expression: str) -> PlainUpdate | None:
    """The actions of ``expression`` if it is made of plain actions only, else None."""
    found = _PLAIN_UPDATE.fullmatch(expression or "")
    if found is None:
        return None
    sets = tuple((m[0], m[1] or None, m[2] or m[3]) for m in re.findall(_SET_ACTION, found.group("set")))
    removes = tuple(re.findall(_NAME, found.group("remove") or ""))
    return PlainUpdate(sets, removes)


@workaround("attribute-values-serialized-as-json")
def _apply_attribute_values_serialized_as_json() -> Undo:
    """Gap 28 (speed): moto serialises every DynamoDB attribute of an answer member by member through its shape
    serializer

    Moto serialises a DynamoDB answer through its shape-driven serializer, a value picker per member of every attribute
    of every item: 60% of the time of a 1,000-row Query (a round's summary reads every row), about 0.3 ms per batch. An
    attribute map whose values are strings, numbers (strings in DynamoDB JSON), booleans, nulls, string and number sets,
    and lists and maps of those is already its own serialisation; take it as it is. Binary values (raw bytes the
    serializer base64-encodes) and anything else still go through moto's serializer.
    """
    original = JSONSerializer._serialize_type_map  # BaseJSONSerializer's

    def _serialize_type_map(self: JSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            shape.value.name == "AttributeValue"
            and value.__class__ is dict
            and all(plain_attribute(item) for item in value.values())
        ):
            self._default_serialize(serialized, value, shape, key)
        else:
            original(self, serialized, value, shape, key)

    return patch_inherited(JSONSerializer, "_serialize_type_map", _serialize_type_map)


_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def plain_attribute(value: Any) -> bool:
    """Whether ``value`` is an AttributeValue moto's JSON serializer would leave as it is."""
    if value.__class__ is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    scalar = _PLAIN_SCALARS.get(kind)
    if scalar is not None:
        return inner.__class__ is scalar
    if kind in ("SS", "NS"):
        return inner.__class__ is list and all(item.__class__ is str for item in inner)
    if kind == "M":
        return inner.__class__ is dict and all(plain_attribute(item) for item in inner.values())
    if kind == "L":
        return inner.__class__ is list and all(plain_attribute(item) for item in inner)
    return False


@workaround("top-level-projections-picked")
def _apply_top_level_projections_picked() -> Undo:
    """Gap 29 (speed): moto projects an item by deserialising all of it once per projected name and serialising the
    result

    Moto projects an item (a Query's ProjectionExpression) by converting the whole item to Python values once per
    projected name (a deep copy and a deserialisation of every attribute, output included) and serialising the result
    back: two thirds of the time of a 1,000-row Query that reads a few attributes of each row (a summary's records).
    When every attribute of the item survives that round trip unchanged (a string, a boolean, a null, a number in its
    canonical form that DynamoDB's decimal context holds exactly) and every projected name is a top-level name (no list
    index), the projection is the item's own attributes of those names. Anything else (nested paths and indexes, binary,
    sets, maps, lists, numbers the round trip rewrites or refuses, values of the wrong type that an unvalidated write
    stored) still takes moto's way.
    """
    original = Item.project

    def project(self: Item, projection_expressions: list[list[str]]) -> Item:
        if all(len(expression) == 1 and "[" not in expression[0] for expression in projection_expressions) and all(
            _survives_the_round_trip(value) for value in self.attrs.values()
        ):
            attrs = {
                name: {value.type: value.value}
                for (name,) in projection_expressions
                if (value := self.attrs.get(name)) is not None
            }
            return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)
        return original(self, projection_expressions)

    return patch(Item, "project", project)


def _survives_the_round_trip(value: DynamoType) -> bool:
    kind, inner = value.type, value.value
    if kind == "S":
        return inner.__class__ is str
    if kind == "BOOL":
        return inner.__class__ is bool
    if kind == "NULL":
        return inner is True
    if kind == "N" and inner.__class__ is str:
        try:
            number = DYNAMODB_CONTEXT.create_decimal(inner)
        except decimal.DecimalException:  # Inexact, Rounded, InvalidOperation: moto's round trip raises
            return False
        return number.is_finite() and str(number) == inner
    return False
