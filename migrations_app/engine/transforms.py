"""Field transforms: what is written to the target instead of a source value.

Pure functions. A template object's ``"transforms"`` maps field API names to one of:

- ``"keep"`` (also what a field not listed gets);
- ``"empty"``: write no value;
- ``{"fixed": value}``: always this value;
- ``{"prefix": "T-"}``, ``{"suffix": " (copy)"}`` or both: around the text;
- ``"mask"``: a realistic value valid for the field's type in place of personal data.

Masking is deterministic: the value is chosen from ``HMAC(secret, object | field |
source id | value)``, so a repeat run writes the same masked value (and counts the record
unchanged), while nobody without the secret can tell which source value it hides.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from migrations_app.engine.schema import FieldInfo


class Kind(StrEnum):
    KEEP = "keep"
    EMPTY = "empty"
    FIXED = "fixed"
    AFFIX = "affix"
    MASK = "mask"


# Field types whose values are text a prefix or suffix can go around.
AFFIXABLE = frozenset({"string", "textarea", "url", "encryptedstring", "combobox"})
# Salesforce types no transform other than keep may touch: ids and lookups are mapped.
UNTOUCHABLE = frozenset({"id", "reference"})
# Reserved by RFC 2606: mail to it is never delivered anywhere.
MASK_DOMAIN = "example.invalid"

FIRST_NAMES = (
    "Alex", "Amira", "Ana", "Ben", "Carla", "Chen", "Dana", "Diego", "Elena", "Eli",
    "Fatima", "Finn", "Grace", "Hugo", "Ines", "Ivan", "Jade", "Jonas", "Kai", "Lena",
    "Leo", "Maya", "Mateo", "Nadia", "Noah", "Olga", "Omar", "Paula", "Quinn", "Rosa",
    "Sami", "Sofia", "Theo", "Uma", "Victor", "Wen", "Yara", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adler", "Baker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Hansen",
    "Ito", "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov",
    "Quinlan", "Rossi", "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Xu", "Young",
    "Zimmer",
)  # fmt: skip
COMPANY_WORDS = ("Group", "Partners", "Holdings", "Labs", "Works", "Trading", "& Co")
STREETS = ("Oak", "Maple", "Cedar", "Elm", "Pine", "Birch", "Willow", "Lake", "Hill")
CITIES = (
    "Springfield", "Riverton", "Lakewood", "Fairview", "Greenville", "Milton",
    "Ashford", "Brookside", "Clayton", "Dover",
)  # fmt: skip
STATES = ("North", "South", "East", "West", "Central")
COUNTRIES = ("Freedonia", "Ruritania", "Sylvania", "Elbonia", "Genovia")

# Field names (lower case, no __c) that usually hold personal data, by what they hold.
PERSONAL_NAME_PARTS = (
    "email", "phone", "mobile", "fax", "firstname", "lastname", "middlename",
    "birth", "street", "city", "postalcode", "zip", "address", "ssn", "passport",
)  # fmt: skip
PERSON_OBJECTS = frozenset({"Contact", "Lead", "User", "Individual", "Account"})


class TransformError(ValueError):
    """A transform that is not one of the choices; the message says what is wrong."""


@dataclass(frozen=True)
class Transform:
    kind: Kind
    value: Any = None
    prefix: str = ""
    suffix: str = ""

    def as_json(self) -> Any:
        """The transform as the template file writes it."""
        if self.kind is Kind.FIXED:
            return {"fixed": self.value}
        if self.kind is Kind.AFFIX:
            parts = {"prefix": self.prefix, "suffix": self.suffix}
            return {name: text for name, text in parts.items() if text}
        return self.kind.value

    def describe(self) -> str:
        """A few words for the launch form's summary."""
        if self.kind is Kind.FIXED:
            return f"fixed value {self.value!r}"
        if self.kind is Kind.AFFIX:
            parts = [f"prefix {self.prefix!r}"] if self.prefix else []
            parts += [f"suffix {self.suffix!r}"] if self.suffix else []
            return " and ".join(parts)
        return {"keep": "kept", "empty": "left empty", "mask": "masked"}[self.kind]


KEEP = Transform(Kind.KEEP)


def parse_transform(raw: object) -> Transform:
    """The Transform a template file's value stands for; TransformError if none."""
    if isinstance(raw, str):
        if raw in (Kind.KEEP, Kind.EMPTY, Kind.MASK):
            return Transform(Kind(raw))
        raise TransformError(
            f'"{raw}" is not a transform; use "keep", "mask", "empty", '
            '{"fixed": value}, {"prefix": text} or {"suffix": text}'
        )
    if not isinstance(raw, Mapping):
        raise TransformError(
            'expected a transform name or an object such as {"fixed": value}'
        )
    keys = set(raw)
    if keys == {"fixed"}:
        return _fixed(raw["fixed"])
    if keys and keys <= {"prefix", "suffix"}:
        return _affix(raw)
    raise TransformError(
        f"unknown transform keys {', '.join(sorted(map(str, keys))) or '(none)'}; "
        'use {"fixed": value}, or "prefix" and/or "suffix"'
    )


def _fixed(value: object) -> Transform:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise TransformError("a fixed value is a string, number, true, false or null")
    return Transform(Kind.FIXED, value=value)


def _affix(raw: Mapping[Any, Any]) -> Transform:
    prefix, suffix = raw.get("prefix", ""), raw.get("suffix", "")
    if not isinstance(prefix, str) or not isinstance(suffix, str):
        raise TransformError("a prefix or suffix is a string")
    if not prefix and not suffix:
        raise TransformError("give a non-empty prefix or suffix")
    return Transform(Kind.AFFIX, prefix=prefix, suffix=suffix)


def parse_transforms(raw: Mapping[str, object]) -> dict[str, Transform]:
    """Every transform of an object, keyed by lower-case field name; keep is left out."""
    parsed = {name.lower(): parse_transform(value) for name, value in raw.items()}
    return {name: item for name, item in parsed.items() if item.kind is not Kind.KEEP}


# Applying ------------------------------------------------------------------------


def apply_transforms(
    values: Mapping[str, Any],
    *,
    sobject: str,
    source_id: str,
    transforms: Mapping[str, Transform],
    fields: Mapping[str, FieldInfo],
    secret: bytes,
) -> dict[str, Any]:
    """The values to write, each transformed as its field's transform says.

    ``transforms`` and ``fields`` (the target's describe of the written fields) are
    keyed by lower-case field name. Values of fields without a transform are kept.
    """
    if not transforms:
        return dict(values)
    result = {}
    for name, value in values.items():
        transform = transforms.get(name.lower())
        info = fields.get(name.lower()) or FieldInfo(name=name, type="string")
        if transform is None or info.type in UNTOUCHABLE:
            result[name] = value
            continue
        seed = _digest(secret, sobject, info.name, source_id, value)
        result[name] = transform_value(value, transform, info, seed, sobject)
    return result


def transform_value(
    value: Any, transform: Transform, info: FieldInfo, seed: bytes, sobject: str = ""
) -> Any:
    """One value as written. ``seed`` is the record's HMAC for this field."""
    if transform.kind is Kind.EMPTY:
        return None
    if transform.kind is Kind.FIXED:
        return transform.value
    if transform.kind is Kind.AFFIX:
        return _affixed(value, transform, info)
    if transform.kind is Kind.MASK:
        return mask_value(value, info, seed, sobject)
    return value


def _affixed(value: Any, transform: Transform, info: FieldInfo) -> Any:
    if value is None or value == "" or info.type not in AFFIXABLE:
        return value
    text = f"{transform.prefix}{value}{transform.suffix}"
    if info.length and len(text) > info.length:
        # Keep the prefix and suffix, which mark the record; shorten the value.
        room = max(info.length - len(transform.prefix) - len(transform.suffix), 0)
        text = f"{transform.prefix}{str(value)[:room]}{transform.suffix}"
        text = text[: info.length]
    return text


def _digest(
    secret: bytes, sobject: str, field: str, source_id: str, value: Any
) -> bytes:
    message = f"{sobject}|{field}|{source_id}|{value}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()


class _Seed:
    """Successive numbers drawn from one HMAC digest."""

    def __init__(self, seed: bytes) -> None:
        self.seed = seed
        self.position = 0

    def number(self, below: int) -> int:
        chunk = self.seed[self.position : self.position + 6]
        self.position = (self.position + 6) % (len(self.seed) - 6)
        return int.from_bytes(chunk, "big") % max(below, 1)

    def choice(self, items: tuple[str, ...]) -> str:
        return items[self.number(len(items))]

    @property
    def hex(self) -> str:
        return self.seed.hex()


def mask_value(value: Any, info: FieldInfo, seed: bytes, sobject: str = "") -> Any:
    """A realistic value valid for ``info`` in place of ``value``; empty stays empty."""
    if value is None or value == "":
        return value
    draw = _Seed(seed)
    masker = _MASKERS_BY_TYPE.get(info.type)
    masked = masker(draw, info) if masker else _mask_text(draw, info, sobject)
    if isinstance(masked, str) and info.length:
        masked = masked[: info.length]
    return masked


def _mask_email(draw: _Seed, info: FieldInfo) -> str:
    first, last = draw.choice(FIRST_NAMES), draw.choice(LAST_NAMES)
    # The digest's hex keeps addresses unique per record (a unique Email field, a
    # duplicate rule on it) however few names the lists hold.
    return f"{first}.{last}.{draw.hex[:10]}@{MASK_DOMAIN}".lower()


def _mask_phone(draw: _Seed, info: FieldInfo) -> str:
    # 555 numbers are fictional in the North American plan.
    return f"+1 (555) {draw.number(900) + 100:03d}-{draw.number(10_000):04d}"


def _mask_url(draw: _Seed, info: FieldInfo) -> str:
    return f"https://www.{MASK_DOMAIN}/{draw.hex[:10]}"


def _mask_picklist(draw: _Seed, info: FieldInfo) -> str | None:
    if not info.picklist_values:
        return None
    return draw.choice(info.picklist_values)


def _mask_boolean(draw: _Seed, info: FieldInfo) -> bool:
    return draw.number(2) == 1


def _mask_integer(draw: _Seed, info: FieldInfo) -> int:
    digits = min(info.digits or info.precision or 9, 9)
    return draw.number(10**digits)


def _mask_decimal(draw: _Seed, info: FieldInfo) -> float:
    scale = min(info.scale, 6)
    whole_digits = min(max((info.precision or 18) - info.scale, 1), 9)
    whole = draw.number(10**whole_digits)
    fraction = draw.number(10**scale) if scale else 0
    return round(whole + fraction / 10**scale, scale) if scale else float(whole)


def _mask_date(draw: _Seed, info: FieldInfo) -> str:
    return _masked_day(draw, info).isoformat()


def _masked_day(draw: _Seed, info: FieldInfo) -> date:
    if "birth" in info.name.lower():
        # An adult's birthday: 1950 to 2004.
        return date(1950, 1, 1) + timedelta(days=draw.number(55 * 365))
    return date(2000, 1, 1) + timedelta(days=draw.number(30 * 365))


def _mask_datetime(draw: _Seed, info: FieldInfo) -> str:
    day = _masked_day(draw, info)
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        seconds=draw.number(86_400)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _mask_time(draw: _Seed, info: FieldInfo) -> str:
    seconds = draw.number(86_400)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000Z"


def _mask_multipicklist(draw: _Seed, info: FieldInfo) -> str | None:
    return _mask_picklist(draw, info)


_MASKERS_BY_TYPE = {
    "email": _mask_email,
    "phone": _mask_phone,
    "url": _mask_url,
    "picklist": _mask_picklist,
    "multipicklist": _mask_multipicklist,
    "boolean": _mask_boolean,
    "int": _mask_integer,
    "long": _mask_integer,
    "double": _mask_decimal,
    "currency": _mask_decimal,
    "percent": _mask_decimal,
    "date": _mask_date,
    "datetime": _mask_datetime,
    "time": _mask_time,
}


def _mask_text(draw: _Seed, info: FieldInfo, sobject: str) -> str:
    """Text chosen by what the field's name says it holds."""
    name = info.name.lower().removesuffix("__c")
    first, last = draw.choice(FIRST_NAMES), draw.choice(LAST_NAMES)
    if "email" in name:
        return _mask_email(draw, info)
    if any(part in name for part in ("phone", "mobile", "fax")):
        return _mask_phone(draw, info)
    if "firstname" in name or name == "first_name":
        return first
    if "lastname" in name or name == "last_name":
        return last
    if "middlename" in name:
        return draw.choice(FIRST_NAMES)
    if "street" in name or "address" in name:
        return f"{draw.number(900) + 1} {draw.choice(STREETS)} Street"
    if "city" in name:
        return draw.choice(CITIES)
    if "postalcode" in name or "zip" in name:
        return f"{draw.number(100_000):05d}"
    if "state" in name:
        return draw.choice(STATES)
    if "country" in name:
        return draw.choice(COUNTRIES)
    if (name == "name" and sobject == "Account") or "company" in name:
        return f"{last} {draw.choice(COMPANY_WORDS)}"
    if "name" in name:
        return f"{first} {last}"
    return f"Masked {draw.hex[:12]}"


# Checks --------------------------------------------------------------------------


def transform_problems(
    transforms: Mapping[str, Transform], fields: Mapping[str, FieldInfo]
) -> list[tuple[str, str, bool]]:
    """(field, message, blocking) for transforms the target's fields cannot take."""
    problems = []
    for name, transform in transforms.items():
        info = fields.get(name)
        if info is None:
            continue  # a field that is not written: planning says so already
        if info.type in UNTOUCHABLE:
            problems.append(
                (info.name, "lookups and ids are mapped, not transformed", True)
            )
        elif transform.kind is Kind.EMPTY and info.required_on_insert:
            problems.append(
                (info.name, "is required in the target org; it cannot be empty", True)
            )
        elif transform.kind is Kind.AFFIX and info.type not in AFFIXABLE:
            problems.append(
                (
                    info.name,
                    f"a prefix or suffix does not apply to {info.type}; kept",
                    False,
                )
            )
    return problems


def looks_personal(sobject: str, field: str) -> bool:
    """Whether a field usually holds personal data, judged by its API name.

    Names, e-mail addresses, phone numbers, postal addresses and birthdates; a name
    field only on objects that describe people.
    """
    name = field.lower().removesuffix("__c")
    if any(part in name for part in PERSONAL_NAME_PARTS):
        return True
    return sobject in PERSON_OBJECTS - {"Account"} and name == "name"


def unmasked_personal_fields(
    sobject: str, fields: Iterable[str], transforms: Mapping[str, Transform]
) -> list[str]:
    """The personal-data fields copied as they are (not masked, emptied or fixed)."""
    hidden = (Kind.MASK, Kind.EMPTY, Kind.FIXED)
    return [
        name
        for name in fields
        if looks_personal(sobject, name)
        and transforms.get(name.lower(), KEEP).kind not in hidden
    ]


@dataclass(frozen=True)
class ObjectTransforms:
    """What the launch form says of one template object's transforms."""

    sobject: str
    transformed: list[tuple[str, str]]  # (field, what happens to it)
    unmasked_personal: list[str]


def transforms_summary(objects: Iterable[Mapping[str, Any]]) -> list[ObjectTransforms]:
    """Per template object (snapshot or export shape): its transforms in words and
    the personal-data fields it copies as they are."""
    summary = []
    for item in objects:
        sobject = str(item["sobject"])
        transforms = parse_transforms(item.get("transforms") or {})
        fields = [str(name) for name in item.get("fields", ())]
        summary.append(
            ObjectTransforms(
                sobject=sobject,
                transformed=[
                    (name, transforms[name.lower()].describe())
                    for name in fields
                    if name.lower() in transforms
                ],
                unmasked_personal=unmasked_personal_fields(sobject, fields, transforms),
            )
        )
    return summary
