"""Conversion and validation of field values, precomputed per field.

Stored values are REST-JSON shaped: str for text, picklists, ids, dates
("2024-01-15"), datetimes ("2024-01-15T10:30:00.000+0000") and times
("10:30:00.000Z"); int / float for numbers; bool for booleans; None for empty.

Each field gets two converters: one for JSON input (REST, collections, Python API) and
one for CSV text (Bulk API 2.0). Both raise ``FieldValueError`` when the value is not of
the field's type, and ``RecordFailure`` for values of the right type that break a rule
(length, restricted picklist, number range, e-mail format).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from salesforce_emulator.errors import FieldValueError, RecordFailure
from salesforce_emulator.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef

Converter = Callable[[Any], Any]

_CANONICAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000\Z")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_TIME = re.compile(r"(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?Z?\Z")
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f", ""})


def format_datetime(moment: datetime) -> str:
    """REST JSON datetime: ``2024-01-15T10:30:00.000+0000`` in UTC."""
    moment = moment.astimezone(UTC)
    return (
        moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    )


def parse_datetime(value: str) -> datetime | None:
    """Parse an ISO 8601 date or datetime (naive means UTC); None if invalid."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _datetime_value(field_def: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldValueError(field_def.name, "datetime", value)
    if _CANONICAL_DATETIME.match(value):
        return value
    moment = parse_datetime(value)
    if moment is None:
        raise FieldValueError(field_def.name, "datetime", value)
    return format_datetime(moment)


def _date_value(field_def: FieldDef, value: Any) -> str:
    if not isinstance(value, str):
        raise FieldValueError(field_def.name, "date", value)
    text = value.strip()
    if _DATE.match(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            raise FieldValueError(field_def.name, "date", value) from None
        return text
    moment = parse_datetime(text)
    if moment is None:
        raise FieldValueError(field_def.name, "date", value)
    return moment.date().isoformat()


def _time_value(field_def: FieldDef, value: Any) -> str:
    match = _TIME.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise FieldValueError(field_def.name, "time", value)
    hours, minutes = int(match[1]), int(match[2])
    seconds = int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise FieldValueError(field_def.name, "time", value)
    millis = (match[4] or "0").ljust(3, "0")
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis}Z"


def _bool_value(field_def: FieldDef, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise FieldValueError(field_def.name, "boolean", value)


def _number_value(field_def: FieldDef, value: Any) -> int | float:
    integral = field_def.type in ("int", "long")
    if isinstance(value, bool):
        raise FieldValueError(field_def.name, field_def.type, value)
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "")) if value.strip() else None
        except ValueError:
            raise FieldValueError(field_def.name, field_def.type, value) from None
        if value is None:
            raise FieldValueError(field_def.name, field_def.type, "")
    if not isinstance(value, int | float) or value != value:  # NaN check
        raise FieldValueError(field_def.name, field_def.type, value)
    if integral:
        if float(value) != int(value):
            raise FieldValueError(field_def.name, field_def.type, value)
        return int(value)
    number = float(value)
    if field_def.scale >= 0 and field_def.type in ("currency", "percent", "double"):
        number = (
            round(number, field_def.scale) if field_def.scale else float(round(number))
        )
    return number


def _check_number_range(field_def: FieldDef, number: int | float) -> None:
    digits = (field_def.precision - field_def.scale) if field_def.precision else 0
    if digits > 0 and abs(number) >= 10**digits:
        raise RecordFailure.of(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{field_def.label or field_def.name}: value outside of valid range on numeric "
            f"field: {number}",
            (field_def.name,),
        )


def _text_value(field_def: FieldDef, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise FieldValueError(field_def.name, "string", value)


def _check_length(field_def: FieldDef, text: str) -> None:
    if field_def.length and len(text) > field_def.length:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise RecordFailure.of(
            "STRING_TOO_LONG",
            f"{field_def.label or field_def.name}: data value too large: {shown} "
            f"(max length={field_def.length})",
            (field_def.name,),
        )


def _picklist_check(field_def: FieldDef) -> Callable[[str], None] | None:
    if not field_def.restricted_picklist:
        return None
    allowed = frozenset(field_def.picklist_values)
    multi = field_def.type == "multipicklist"

    def check(text: str) -> None:
        values = text.split(";") if multi else [text]
        for item in values:
            if item not in allowed:
                raise RecordFailure.of(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{field_def.label or field_def.name}: bad value for restricted "
                    f"picklist field: {item}",
                    (field_def.name,),
                )

    return check


def _text_converter(field_def: FieldDef) -> Converter:
    picklist_check = _picklist_check(field_def)
    is_email = field_def.type == "email"

    def convert(value: Any) -> Any:
        text = _text_value(field_def, value)
        if text == "":
            return None
        _check_length(field_def, text)
        if picklist_check is not None:
            picklist_check(text)
        if is_email and not _EMAIL.match(text):
            raise RecordFailure.of(
                "INVALID_EMAIL_ADDRESS",
                f"{field_def.label or field_def.name}: invalid email address: {text}",
                (field_def.name,),
            )
        return text

    return convert


def _number_converter(field_def: FieldDef) -> Converter:
    def convert(value: Any) -> Any:
        number = _number_value(field_def, value)
        _check_number_range(field_def, number)
        return number

    return convert


def _reference_converter(field_def: FieldDef) -> Converter:
    def convert(value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldValueError(field_def.name, "reference", value)
        return value.strip() or None

    return convert


def _simple(function: Callable[[FieldDef, Any], Any], field_def: FieldDef) -> Converter:
    def convert(value: Any) -> Any:
        return function(field_def, value)

    return convert


def json_converter(field_def: FieldDef) -> Converter:
    """Converter for a non-None JSON value of ``field_def``."""
    kind = field_def.type
    if kind in TEXT_TYPES or kind == "base64":
        return _text_converter(field_def)
    if kind in NUMBER_TYPES:
        return _number_converter(field_def)
    if kind == "boolean":
        return _simple(_bool_value, field_def)
    if kind == "date":
        return _simple(_date_value, field_def)
    if kind == "datetime":
        return _simple(_datetime_value, field_def)
    if kind == "time":
        return _simple(_time_value, field_def)
    if kind in ("reference", "id"):
        return _reference_converter(field_def)
    return _text_converter(field_def)


def csv_converter(field_def: FieldDef) -> Converter:
    """Converter for a non-empty CSV cell of ``field_def`` (``#N/A`` handled by caller)."""
    return json_converter(field_def)
