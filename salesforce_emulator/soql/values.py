"""Comparable keys for field values and literals, per Salesforce field type.

Every comparison, IN list and sort works on keys computed here, so each field type is
decided once per query instead of once per row:

* text: lower-cased (SOQL compares and sorts case-insensitively), None for empty;
* ids: the canonical 18-character form, whatever form the query used;
* numbers and booleans: Python values;
* dates: "YYYY-MM-DD"; datetimes: UTC "YYYY-MM-DDTHH:MM:SS.mmm". Fixed-width ISO text
  sorts chronologically, so the stored REST strings need no per-row parsing.

Date and datetime literals become half-open [low, high) key ranges: a relative literal
such as TODAY covers a span, and an exact value ``x`` is the range [x, x + "\\0"),
which contains exactly x among well-formed keys. One set of range predicates then
handles both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Final

from soql import dates, nodes
from soql.errors import SoqlError

from .. import ids
from ..schema import NUMBER_TYPES, FieldDef

TEXT: Final = "text"
ID: Final = "id"
NUMBER: Final = "number"
BOOLEAN: Final = "boolean"
DATE: Final = "date"
DATETIME: Final = "datetime"
MULTIPICKLIST: Final = "multipicklist"

KeyRange = tuple[str, str]
Normalizer = Callable[[Any], Any]

# Literal kinds each field kind accepts (null is accepted everywhere).
_ACCEPTED: Final = {
    TEXT: {nodes.STRING},
    ID: {nodes.STRING},
    MULTIPICKLIST: {nodes.STRING},
    NUMBER: {nodes.NUMBER},
    BOOLEAN: {nodes.BOOLEAN},
    DATE: {nodes.DATE, nodes.DATE_RANGE},
    DATETIME: {nodes.DATETIME, nodes.DATE_RANGE},
}
# Type names Salesforce uses in "must be of type ..." messages.
_TYPE_NAMES: Final = {
    "int": "integer",
    "long": "long",
    "datetime": "dateTime",
    "currency": "double",
    "percent": "double",
    "double": "double",
}


def kind_of(field: FieldDef) -> str:
    field_type = field.type
    if field_type in ("id", "reference"):
        return ID
    if field_type in NUMBER_TYPES:
        return NUMBER
    if field_type in (BOOLEAN, DATE, DATETIME, MULTIPICKLIST):
        return field_type
    return TEXT  # string-like and anything exotic (time, base64, ...)


# -- record ids -------------------------------------------------------------------


def to_18(record_id: str) -> str:
    """Append the case-folding checksum to a 15-character id."""
    return ids.to18(record_id)


def canonical_id(text: str) -> str | None:
    """The canonical 18-character form of a 15/18-character id, or None if malformed.

    The 18-character form is case-insensitive (its checksum records which of the first
    15 characters are upper case), so any casing of it maps to the same id.
    """
    return ids.normalize_id(text)


# -- row value normalisers ------------------------------------------------------------


def _text_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value.lower() if isinstance(value, str) else str(value).lower()


def _exact_text_key(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _id_key(value: Any) -> str | None:
    if not value:
        return None
    return to_18(value) if len(value) == 15 else value


def _multipicklist_key(value: Any) -> str | None:
    # Salesforce treats 'a;b' and 'b;a' as the same selection.
    if not value:
        return None
    return ";".join(sorted(part.strip().lower() for part in value.split(";")))


def _date_key(value: Any) -> str | None:
    if not value:
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    return value[:10]


def identity(value: Any) -> Any:
    return value


def datetime_key(value: Any) -> str | None:
    """UTC key of a stored datetime; cheap for the usual ``...000+0000`` form."""
    if not value:
        return None
    if isinstance(value, str):
        if len(value) == 28 and value.endswith("+0000"):
            return value[:23]
        if len(value) == 24 and value.endswith("Z"):
            return value[:23]
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None  # not a datetime: treat like an empty field
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return _utc_key(value)
    return None


def _utc_key(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}"


def normalizer(field: FieldDef) -> Normalizer:
    kind = kind_of(field)
    if kind == TEXT:
        return _exact_text_key if field.case_sensitive else _text_key
    return {
        ID: _id_key,
        MULTIPICKLIST: _multipicklist_key,
        DATE: _date_key,
        DATETIME: datetime_key,
    }.get(kind, identity)


# -- literals -----------------------------------------------------------------------


def check_literal(field: FieldDef, literal: nodes.Literal) -> None:
    """Reject literals of the wrong type with Salesforce's INVALID_FIELD wording."""
    if literal.kind == nodes.NULL:
        return
    kind = kind_of(field)
    if literal.kind in _ACCEPTED[kind]:
        return
    type_name = _TYPE_NAMES.get(field.type, field.type)
    if kind in (TEXT, ID, MULTIPICKLIST):
        type_name = "string" if kind != ID else "id"
        quoting = "should be enclosed in quotes"
    else:
        quoting = "should not be enclosed in quotes"
    raise SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{field.name}' must be of type "
        f"{type_name} and {quoting}",
    )


def scalar_key(field: FieldDef, literal: nodes.Literal) -> Any:
    """Key of a literal compared to a non-date field (None for null / '')."""
    value = literal.value
    if value is None:
        return None
    kind = kind_of(field)
    if kind == NUMBER:
        assert isinstance(value, Decimal)
        # Keep integers exact (long fields can exceed float precision).
        return int(value) if value == value.to_integral_value() else float(value)
    if kind == BOOLEAN:
        return value
    assert isinstance(value, str)
    if kind == ID:
        return _id_literal(field, value)
    return normalizer(field)(value)


def _id_literal(field: FieldDef, value: str) -> str | None:
    if value == "":
        return None
    canonical = canonical_id(value)
    if canonical is None:
        raise SoqlError("INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {value}")
    return canonical


def range_key(field: FieldDef, literal: nodes.Literal, today: date) -> KeyRange | None:
    """[low, high) key range of a literal compared to a date or datetime field."""
    value = literal.value
    if value is None:
        return None
    as_datetime = kind_of(field) == DATETIME
    if isinstance(value, nodes.RelativeDate):
        try:
            start, end = dates.resolve(value, today)
        except (ValueError, OverflowError):
            raise SoqlError(
                "MALFORMED_QUERY", f"date literal out of range: {value}"
            ) from None
        if as_datetime:
            return (
                f"{start.isoformat()}T00:00:00.000",
                f"{end.isoformat()}T00:00:00.000",
            )
        return start.isoformat(), end.isoformat()
    if isinstance(value, datetime):
        point = _utc_key(value)
    else:
        assert isinstance(value, date)
        point = value.isoformat()
    return point, point + "\0"


def today_utc(now: datetime | None) -> date:
    """The UTC date relative date literals are evaluated against."""
    if now is None:
        return datetime.now(UTC).date()
    if now.tzinfo is None:
        return now.date()  # naive values are taken to be UTC already
    return now.astimezone(UTC).date()
