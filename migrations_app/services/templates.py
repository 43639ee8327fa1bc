"""Templates: validate, import, export and snapshot; describe an org for the pickers.

A template travels as one JSON document (see ``template_export``). The same checks
guard every way in: the import (file, command, admin upload) and the admin form, so a
malformed filter or field name is refused when the template is saved, never when a run
starts. Problems are reported with the place they occur, e.g.
``objects[1].fields[2]: "Last Name" is not a valid field API name``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, TypedDict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from migrations_app.engine.transforms import TransformError, parse_transform
from migrations_app.models import MissingParentPolicy, Org, Template, TemplateObject
from migrations_app.salesforce.errors import SalesforceError
from migrations_app.services import orgs as org_services
from migrations_app.services.errors import MigrationError
from soql import Refusal, SoqlError, parse_where

FORMAT_VERSION = 1
# A template file is small (and a device, read as a file, never ends): the admin's
# upload and the import command read at most this much.
TEMPLATE_MAX_BYTES = 1024 * 1024
TEMPLATE_KEYS = ("version", "name", "description", "objects")
OBJECT_KEYS = (
    "sobject",
    "fields",
    "filter",
    "match_key",
    "missing_parent_policy",
    "options",
    "include_files",
    "transforms",
)
NAME_MAX_LENGTH = Template._meta.get_field("name").max_length or 200
SOBJECT_MAX_LENGTH = TemplateObject._meta.get_field("sobject").max_length or 100

# Salesforce API names: a letter first, then letters, digits and single underscores;
# double underscores only before a namespace or suffix (ns__Field__c, Account__r).
API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:__?[A-Za-z0-9]+)*")

type JsonValue = (
    str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None
)
type Path = tuple[str | int, ...]


class TemplateObjectData(TypedDict):
    sobject: str
    fields: list[str]
    filter: str
    match_key: list[str]
    missing_parent_policy: str
    options: dict[str, JsonValue]
    transforms: dict[str, JsonValue]


class TemplateData(TypedDict):
    version: int
    name: str
    description: str
    objects: list[TemplateObjectData]


class SObjectChoice(TypedDict):
    name: str
    label: str
    custom: bool


class FieldChoice(TypedDict):
    name: str
    label: str
    type: str
    required: bool
    createable: bool
    updateable: bool
    reference_to: list[str]


@dataclass(frozen=True)
class Problem:
    """What is wrong, and where: ``path`` is ("objects", 1, "fields", 2).

    ``key`` names the object key concerned when the path stops short of it (a
    missing key), so that a model form can still attach the message to an input.
    """

    path: Path
    message: str
    key: str = ""

    def __str__(self) -> str:
        where = render_path(self.path)
        return f"{where}: {self.message}" if where else self.message


def render_path(path: Path) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


# Services -------------------------------------------------------------------------


def template_validate_filter(*, sobject: str, filter_text: str) -> None:
    """Check the syntax of a SOQL WHERE condition; an empty filter is fine.

    Field names are not checked against an org: the template is not tied to one.
    """
    problem = _filter_problem(filter_text)
    if problem:
        raise ValidationError(f"{sobject or 'Object'} filter: {problem}")


def template_object_validate(*, data: Mapping[str, object]) -> TemplateObjectData:
    """Validate one template object's values and return them normalised.

    Raises a ValidationError keyed by model field name, so that a model form can
    attach each message to its input.
    """
    problems: list[Problem] = []
    result = _check_object(data, (), problems)
    if problems or result is None:
        errors: dict[str, list[str]] = {}
        for problem in problems:
            key = problem.key or (str(problem.path[0]) if problem.path else "__all__")
            errors.setdefault(key, []).append(problem.message)
        raise ValidationError(errors)
    return result


def template_sobjects_validate(*, sobjects: Sequence[str]) -> None:
    """Refuse a template that lists the same sObject twice (names are case-blind)."""
    problems: list[Problem] = []
    _check_unique_sobjects(list(sobjects), problems, path_of=lambda i: ())
    if problems:
        raise ValidationError([problem.message for problem in problems])


def template_import(
    *, data: Mapping[str, object] | str, replace: bool = False
) -> Template:
    """Create a template (or replace one of the same name) from its JSON document.

    ``data`` is the parsed document or its JSON text. Everything is validated before
    anything is written; every problem found is reported in one ValidationError.
    Template and objects are written in one transaction. Idempotent with
    ``replace=True``: importing the same document again leaves the same template.
    Replacing keeps the Template row (its runs stay linked; each run has its own
    snapshot) and swaps its objects.
    """
    spec = _parse(data)
    if not replace and Template.objects.filter(name=spec["name"]).exists():
        raise ValidationError(_name_taken(spec["name"]))
    try:
        return _save(spec, replace=replace)
    except IntegrityError as exc:
        # Another import of the same name committed first.
        raise ValidationError(_name_taken(spec["name"])) from exc


def template_export(*, template: Template) -> TemplateData:
    """The template as a JSON-ready document that ``template_import`` accepts.

    Keys come in a fixed order and options are sorted, so exports are stable.
    """
    return {
        "version": FORMAT_VERSION,
        "name": template.name,
        "description": template.description,
        "objects": [_export_object(item) for item in template.template_objects.all()],
    }


def template_export_json(*, template: Template) -> str:
    """``template_export`` as pretty-printed JSON text ending with a newline."""
    document = template_export(template=template)
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def template_snapshot(*, template: Template) -> TemplateData:
    """What a run stores: the template as exported, frozen at launch."""
    return template_export(template=template)


def template_picker_sobjects(*, org: Org) -> list[SObjectChoice]:
    """The sObjects of ``org`` a template can copy: queryable and createable.

    Raises MigrationError when the org cannot be reached or described.
    """
    client = org_services.org_client(org)
    try:
        described = client.describe_global()
    except SalesforceError as exc:
        raise MigrationError(
            f"{org.name}: cannot list sObjects: {exc.message}"
        ) from exc
    choices = [
        SObjectChoice(
            name=str(item["name"]),
            label=str(item.get("label") or item["name"]),
            custom=bool(item.get("custom")),
        )
        for item in described
        if item.get("queryable") and item.get("createable")
    ]
    return sorted(choices, key=lambda choice: choice["label"].lower())


def template_picker_fields(*, org: Org, sobject: str) -> list[FieldChoice]:
    """The fields of ``sobject`` in ``org``, with what an insert requires.

    Raises ValidationError for a malformed or unknown sObject name and MigrationError
    when the org cannot be reached or described.
    """
    if not API_NAME.fullmatch(sobject):
        raise ValidationError(_invalid_name(sobject, "sObject"))
    client = org_services.org_client(org)
    try:
        described = client.describe(sobject)
    except SalesforceError as exc:
        if exc.status == 404 or exc.code in ("NOT_FOUND", "INVALID_TYPE"):
            raise ValidationError(f'{org.name} has no sObject "{sobject}"') from exc
        raise MigrationError(
            f"{org.name}: cannot describe {sobject}: {exc.message}"
        ) from exc
    choices = [_field_choice(item) for item in described.get("fields", [])]
    return sorted(choices, key=lambda choice: choice["label"].lower())


# Import: parse and check -----------------------------------------------------------


def _parse(data: Mapping[str, object] | str) -> TemplateData:
    problems: list[Problem] = []
    document = _load_json(data, problems) if isinstance(data, str) else data
    spec = _check_template(document, problems) if not problems else None
    if problems or spec is None:
        raise ValidationError([str(problem) for problem in problems])
    return spec


def _load_json(text: str, problems: list[Problem]) -> object:
    duplicates: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                duplicates.append(key)
            seen[key] = value
        return seen

    def refuse_constant(name: str) -> None:
        # Python reads NaN and Infinity, but they are not JSON and PostgreSQL's
        # jsonb refuses them.
        raise _NotJson(f"{name} is not a JSON value")

    try:
        document = json.loads(
            text.lstrip("\ufeff"),
            object_pairs_hook=pairs_hook,
            parse_constant=refuse_constant,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        problems.append(Problem((), f"invalid JSON at {where}: {exc.msg}"))
        return None
    except _NotJson as exc:
        problems.append(Problem((), f"invalid JSON: {exc}"))
        return None
    except RecursionError:
        problems.append(Problem((), "invalid JSON: nested too deeply"))
        return None
    if "\x00" in text or "\\u0000" in text:
        # PostgreSQL cannot store a NUL character in text or jsonb.
        problems.append(Problem((), "a template may not contain NUL characters"))
        return None
    problems.extend(
        Problem((), f'duplicate key "{key}" in the JSON') for key in duplicates
    )
    return document


class _NotJson(ValueError):
    pass


def _check_template(document: object, problems: list[Problem]) -> TemplateData | None:
    if not isinstance(document, Mapping):
        problems.append(
            Problem((), f"a template must be a JSON object, not {_json_type(document)}")
        )
        return None
    _check_keys(document, TEMPLATE_KEYS, (), problems)
    _check_version(document, problems)
    name = _check_name(document, problems)
    description = _optional_string(document, "description", (), problems)
    objects = _check_objects(document, problems)
    return TemplateData(
        version=FORMAT_VERSION, name=name, description=description, objects=objects
    )


def _check_version(document: Mapping[str, object], problems: list[Problem]) -> None:
    version = document.get("version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        problems.append(
            Problem(
                ("version",),
                f"unsupported format version {json.dumps(version)}; "
                f"this Data Migrator reads version {FORMAT_VERSION}",
            )
        )


def _check_name(document: Mapping[str, object], problems: list[Problem]) -> str:
    if "name" not in document:
        problems.append(Problem((), '"name" is required'))
        return ""
    name = document["name"]
    if not isinstance(name, str):
        problems.append(
            Problem(("name",), f"expected a string, got {_json_type(name)}")
        )
        return ""
    name = name.strip()
    if not name:
        problems.append(Problem(("name",), "must not be empty"))
    elif len(name) > NAME_MAX_LENGTH:
        problems.append(
            Problem(
                ("name",), f"at most {NAME_MAX_LENGTH} characters (got {len(name)})"
            )
        )
    return name


def _check_objects(
    document: Mapping[str, object], problems: list[Problem]
) -> list[TemplateObjectData]:
    if "objects" not in document:
        problems.append(Problem((), '"objects" is required'))
        return []
    items = document["objects"]
    if not isinstance(items, list):
        problems.append(
            Problem(
                ("objects",), f"expected a list of objects, got {_json_type(items)}"
            )
        )
        return []
    if not items:
        problems.append(Problem(("objects",), "must list at least one object"))
    checked = [
        _check_object(item, ("objects", i), problems) for i, item in enumerate(items)
    ]
    objects = [item for item in checked if item is not None]
    sobjects = [item["sobject"] if item else "" for item in checked]
    _check_unique_sobjects(
        sobjects, problems, path_of=lambda i: ("objects", i, "sobject")
    )
    return objects


def _check_object(
    item: object, path: Path, problems: list[Problem]
) -> TemplateObjectData | None:
    if not isinstance(item, Mapping):
        problems.append(Problem(path, f"expected an object, got {_json_type(item)}"))
        return None
    _check_keys(item, OBJECT_KEYS, path, problems)
    sobject = _check_sobject(item, path, problems)
    fields = _check_name_list(item, "fields", path, problems)
    match_key = _check_name_list(item, "match_key", path, problems)
    _check_match_key_in_fields(fields, match_key, path, problems)
    return TemplateObjectData(
        sobject=sobject,
        fields=fields,
        filter=_check_filter(item, path, problems),
        match_key=match_key,
        missing_parent_policy=_check_policy(item, path, problems),
        options=_with_include_files(
            _check_options(item, path, problems), item, path, problems
        ),
        transforms=_check_transforms(item, fields, path, problems),
    )


def _check_transforms(
    item: Mapping[str, object],
    fields: list[str],
    path: Path,
    problems: list[Problem],
) -> dict[str, JsonValue]:
    """``"transforms": {"Email": "mask", ...}``: each key a copied field, each value
    one of the transforms; returned normalised, without the fields kept as they are."""
    value = item.get("transforms", {})
    if value is None:
        return {}
    where = (*path, "transforms")
    if not isinstance(value, dict):
        problems.append(
            Problem(
                where, f"expected an object, got {_json_type(value)}", key="transforms"
            )
        )
        return {}
    copied = {name.lower(): name for name in fields}
    result: dict[str, JsonValue] = {}
    for name, raw in value.items():
        if fields and name.lower() not in copied:
            problems.append(
                Problem(
                    (*where, name),
                    f'"{name}" is not among the fields; add it to "fields" first',
                    key="transforms",
                )
            )
            continue
        try:
            transform = parse_transform(raw)
        except TransformError as exc:
            problems.append(Problem((*where, name), str(exc), key="transforms"))
            continue
        if transform.kind != "keep":
            result[copied.get(name.lower()) or name] = transform.as_json()
    return result


def _with_include_files(
    options: dict[str, JsonValue],
    item: Mapping[str, object],
    path: Path,
    problems: list[Problem],
) -> dict[str, JsonValue]:
    """``"include_files": true`` (on the object or in its options): the files and
    attachments linked to the object's records follow them. Kept in the options."""
    value = item.get("include_files", options.get("include_files", False))
    if not isinstance(value, bool):
        problems.append(
            Problem(
                (*path, "include_files"),
                f"expected true or false, got {_json_type(value)}",
            )
        )
        return options
    options.pop("include_files", None)
    return {**options, "include_files": True} if value else options


def _check_keys(
    item: Mapping[str, object],
    allowed: Sequence[str],
    path: Path,
    problems: list[Problem],
) -> None:
    for key in item:
        if key in allowed:
            continue
        close = get_close_matches(key, allowed, n=1)
        hint = (
            f'did you mean "{close[0]}"?'
            if close
            else f"allowed keys: {', '.join(allowed)}"
        )
        problems.append(Problem(path, f'unknown key "{key}" ({hint})'))


def _check_sobject(
    item: Mapping[str, object], path: Path, problems: list[Problem]
) -> str:
    if item.get("sobject") in (None, ""):
        problems.append(Problem(path, '"sobject" is required', key="sobject"))
        return ""
    sobject = item["sobject"]
    where = (*path, "sobject")
    if not isinstance(sobject, str):
        problems.append(
            Problem(where, f"expected an sObject API name, got {_json_type(sobject)}")
        )
        return ""
    if not API_NAME.fullmatch(sobject) or len(sobject) > SOBJECT_MAX_LENGTH:
        problems.append(Problem(where, _invalid_name(sobject, "sObject")))
    return sobject


def _check_name_list(
    item: Mapping[str, object], key: str, path: Path, problems: list[Problem]
) -> list[str]:
    """``fields`` (required, not empty) or ``match_key`` (optional) API names."""
    where = (*path, key)
    names = item.get(key)
    if names is None:
        if key == "fields":
            problems.append(Problem(path, '"fields" is required', key="fields"))
        return []
    if not isinstance(names, list):
        problems.append(
            Problem(
                where, f"expected a list of field API names, got {_json_type(names)}"
            )
        )
        return []
    if key == "fields" and not names:
        problems.append(Problem(where, "must list at least one field"))
    return _check_names(names, where, problems)


def _check_names(
    names: list[object], where: Path, problems: list[Problem]
) -> list[str]:
    seen: dict[str, int] = {}
    result: list[str] = []
    for index, name in enumerate(names):
        if not isinstance(name, str):
            problems.append(
                Problem(
                    (*where, index),
                    f"expected a field API name, got {_json_type(name)}",
                )
            )
            continue
        if not API_NAME.fullmatch(name):
            problems.append(Problem((*where, index), _invalid_name(name, "field")))
        elif name.lower() in seen:
            first = render_path((*where, seen[name.lower()]))
            problems.append(
                Problem((*where, index), f'"{name}" is listed twice (also {first})')
            )
        seen.setdefault(name.lower(), index)
        result.append(name)
    return result


def _check_match_key_in_fields(
    fields: list[str], match_key: list[str], path: Path, problems: list[Problem]
) -> None:
    # A match key field that is not copied would never be written to the target, so
    # inserted records could not be matched by the next run.
    selected = {name.lower() for name in fields}
    for index, name in enumerate(match_key):
        if fields and API_NAME.fullmatch(name) and name.lower() not in selected:
            problems.append(
                Problem(
                    (*path, "match_key", index),
                    f'"{name}" is not among the fields; add it to "fields" first',
                )
            )


def _check_filter(
    item: Mapping[str, object], path: Path, problems: list[Problem]
) -> str:
    value = item.get("filter", "")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(
            Problem(
                (*path, "filter"),
                f"expected a SOQL condition as a string, got {_json_type(value)}",
            )
        )
        return ""
    text = value.strip()
    problem = _filter_problem(text)
    if problem:
        problems.append(Problem((*path, "filter"), problem))
    return text


def _filter_problem(text: str) -> str:
    """What is wrong with the WHERE condition ``text``, or "" if nothing."""
    text = text.strip()
    if not text:
        return ""
    if re.match(r"WHERE\b", text, re.IGNORECASE):
        return "write the condition without the WHERE keyword"
    try:
        parse_where(text)
    except SoqlError as exc:
        return _soql_problem(exc)
    return ""


def _soql_problem(exc: SoqlError) -> str:
    """Judge a refused filter by what a real org's REST API does with it."""
    where = _location(exc)
    if exc.refusal is Refusal.UNMODELLED:
        # Valid SOQL the parser does not model (e.g. semi-joins): real orgs run it.
        return ""
    if exc.refusal is Refusal.CLAUSE_IN_CONDITION:
        return (
            f"{exc.construct} {where} is not allowed in a filter; "
            "write only the condition"
        )
    if exc.refusal is Refusal.APEX_BIND:
        return f"bind variable {where}: :name only works in Apex, not in a filter"
    return _describe_soql_error(exc)


def _describe_soql_error(exc: SoqlError) -> str:
    where = _location(exc)
    return f"{exc.detail} {where}" if where else exc.detail


def _location(exc: SoqlError) -> str:
    if exc.column is None:
        return ""
    if exc.row and exc.row > 1:
        return f"at line {exc.row}, column {exc.column}"
    return f"at column {exc.column}"


def _check_policy(
    item: Mapping[str, object], path: Path, problems: list[Problem]
) -> str:
    value = item.get("missing_parent_policy", MissingParentPolicy.LEAVE_EMPTY.value)
    if value not in MissingParentPolicy.values:
        allowed = " or ".join(f'"{choice}"' for choice in MissingParentPolicy.values)
        problems.append(
            Problem(
                (*path, "missing_parent_policy"),
                f"{json.dumps(value)} is not a policy; use {allowed}",
            )
        )
        return MissingParentPolicy.LEAVE_EMPTY.value
    return str(value)


def _check_options(
    item: Mapping[str, object], path: Path, problems: list[Problem]
) -> dict[str, JsonValue]:
    value = item.get("options", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(
            Problem((*path, "options"), f"expected an object, got {_json_type(value)}")
        )
        return {}
    return dict(value)


def _optional_string(
    item: Mapping[str, object], key: str, path: Path, problems: list[Problem]
) -> str:
    value = item.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.append(
            Problem((*path, key), f"expected a string, got {_json_type(value)}")
        )
        return ""
    return value


def _check_unique_sobjects(
    sobjects: list[str], problems: list[Problem], *, path_of: Callable[[int], Path]
) -> None:
    first_seen: dict[str, int] = {}
    for index, sobject in enumerate(sobjects):
        if not sobject:
            continue
        first = first_seen.setdefault(sobject.lower(), index)
        if first == index:
            continue
        also = render_path(path_of(first)) or f"object {first + 1}"
        problems.append(
            Problem(
                path_of(index),
                f'"{sobject}" is listed twice (also {also}); '
                "a template copies each sObject once",
            )
        )


# Import: write ---------------------------------------------------------------------


@transaction.atomic
def _save(spec: TemplateData, *, replace: bool) -> Template:
    template = Template.objects.select_for_update().filter(name=spec["name"]).first()
    if template is None:
        template = Template(name=spec["name"])
    elif not replace:
        raise ValidationError(_name_taken(spec["name"]))
    template.description = spec["description"]
    template.save()
    template.template_objects.all().delete()
    TemplateObject.objects.bulk_create(
        TemplateObject(template=template, position=position, **item)
        for position, item in enumerate(spec["objects"])
    )
    return template


def _export_object(item: TemplateObject) -> TemplateObjectData:
    options = item.options if isinstance(item.options, dict) else {}
    return {
        "sobject": item.sobject,
        "fields": list(item.fields),
        "filter": item.filter,
        "match_key": list(item.match_key),
        "missing_parent_policy": item.missing_parent_policy,
        "options": dict(sorted(options.items())),
        "transforms": (
            dict(item.transforms) if isinstance(item.transforms, dict) else {}
        ),
    }


# Describe --------------------------------------------------------------------------


def _field_choice(item: Mapping[str, Any]) -> FieldChoice:
    createable = bool(item.get("createable"))
    return FieldChoice(
        name=str(item["name"]),
        label=str(item.get("label") or item["name"]),
        type=str(item.get("type", "")),
        required=createable
        and not item.get("nillable", True)
        and not item.get("defaultedOnCreate", False),
        createable=createable,
        updateable=bool(item.get("updateable")),
        reference_to=[str(name) for name in item.get("referenceTo") or []],
    )


# Messages --------------------------------------------------------------------------


def _invalid_name(name: str, kind: str) -> str:
    return f'"{name}" is not a valid {kind} API name'


def _name_taken(name: str) -> str:
    return (
        f'name: a template named "{name}" already exists; '
        "import with replace to overwrite it"
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
