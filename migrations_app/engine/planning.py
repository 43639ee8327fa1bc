"""Pre-flight planning: which fields can move, in which order objects go, and whether
the run can succeed at all. Pure functions on describe data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from migrations_app.engine import pricebooks
from migrations_app.engine.schema import FieldInfo, ObjectSchema
from migrations_app.engine.transforms import (
    Transform,
    apply_transforms,
    parse_transforms,
    transform_problems,
)

# Lookups to these objects are mapped by stable keys, not through the mapping table.
USER_OBJECT = "User"
RECORD_TYPE_OBJECT = "RecordType"


@dataclass(frozen=True)
class ObjectSpec:
    """One template object, as the run's template snapshot holds it."""

    sobject: str
    fields: tuple[str, ...]
    filter: str = ""
    match_key: tuple[str, ...] = ()
    missing_parent_policy: str = "leave_empty"
    options: Mapping[str, Any] = field(default_factory=dict)
    # Keyed by lower-case field name; fields kept as they are are not listed.
    transforms: Mapping[str, Transform] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, item: Mapping[str, Any]) -> ObjectSpec:
        return cls(
            sobject=item["sobject"],
            fields=tuple(item.get("fields", ())),
            filter=item.get("filter", "") or "",
            match_key=tuple(item.get("match_key", ()) or ()),
            missing_parent_policy=item.get("missing_parent_policy", "leave_empty"),
            options=item.get("options", {}) or {},
            transforms=parse_transforms(item.get("transforms") or {}),
        )


@dataclass(frozen=True)
class Problem:
    sobject: str
    field: str
    message: str
    blocking: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "sobject": self.sobject,
            "field": self.field,
            "message": self.message,
            "blocking": self.blocking,
        }


@dataclass
class ObjectPlan:
    spec: ObjectSpec
    read_fields: tuple[str, ...]
    insert_fields: tuple[str, ...]
    update_fields: tuple[str, ...]
    # Reference fields among the written ones, with the objects they point to.
    references: dict[str, tuple[str, ...]]
    self_lookup: str | None = None
    self_relationship: str | None = None
    # Lookups that close a cycle between objects: set in a second pass.
    deferred_fields: tuple[str, ...] = ()
    # A condition every read carries, and conditions read one after the other (the
    # standard price book is mapped, not read; standard prices go first).
    condition: str = ""
    passes: tuple[str, ...] = ()
    # The target's describe of the written fields, by lower-case name (for masking).
    written_fields: dict[str, FieldInfo] = field(default_factory=dict)

    @property
    def sobject(self) -> str:
        return self.spec.sobject

    @cached_property
    def points_to_itself(self) -> bool:
        """Whether a lookup of the object may point to a record of the same object
        (a hierarchy), so that a page can depend on the pages before it."""
        return any(self.sobject in refs for refs in self.references.values())

    @cached_property
    def user_lookups(self) -> tuple[str, ...]:
        """The written lookups that may point to a user (owners), asked per record."""
        return tuple(
            name
            for name, references in self.references.items()
            if USER_OBJECT in references
        )

    def transformed(
        self, values: Mapping[str, Any], *, source_id: str, secret: bytes
    ) -> dict[str, Any]:
        """``values`` as written to the target: the template's transforms applied."""
        return apply_transforms(
            values,
            sobject=self.sobject,
            source_id=source_id,
            transforms=self.spec.transforms,
            fields=self.written_fields,
            secret=secret,
        )

    @property
    def include_files(self) -> bool:
        """Whether the files, attachments linked to the object's records follow them."""
        return bool(self.spec.options.get("include_files"))


@dataclass
class MigrationPlan:
    objects: list[ObjectPlan]
    problems: list[Problem]

    @property
    def blocking(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.blocking]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.blocking]


def plan_migration(
    specs: Sequence[ObjectSpec],
    source: Mapping[str, ObjectSchema | None],
    target: Mapping[str, ObjectSchema | None],
) -> MigrationPlan:
    """Check every object and field in both orgs and order objects parents-first."""
    problems: list[Problem] = []
    plans: list[ObjectPlan] = []
    for spec in specs:
        source_schema, target_schema = (
            source.get(spec.sobject),
            target.get(spec.sobject),
        )
        if source_schema is None or target_schema is None:
            problems.extend(
                _missing_object_problems(spec.sobject, source_schema, target_schema)
            )
            continue
        plan, object_problems = plan_object(spec, source_schema, target_schema)
        plans.append(plan)
        problems.extend(object_problems)
    return MigrationPlan(objects=order_objects(plans), problems=problems)


def _missing_object_problems(
    sobject: str, source: ObjectSchema | None, target: ObjectSchema | None
) -> list[Problem]:
    problems = []
    for org_side, schema in (("source", source), ("target", target)):
        if schema is None:
            problems.append(
                Problem(
                    sobject, "", f"{sobject} does not exist in the {org_side} org", True
                )
            )
    return problems


def plan_object(
    spec: ObjectSpec, source: ObjectSchema, target: ObjectSchema
) -> tuple[ObjectPlan, list[Problem]]:
    """Which fields of one object are read, inserted and updated, and what is wrong."""
    problems: list[Problem] = []
    read = ["Id"]
    written: list[FieldInfo] = []
    for name in dict.fromkeys((*spec.fields, *spec.match_key)):
        if name.lower() == "id":
            continue
        source_field = source.field(name)
        if source_field is None:
            message = f"{spec.sobject}.{name} does not exist in the source org"
            problems.append(Problem(spec.sobject, name, message, True))
            continue
        read.append(source_field.name)
        if name not in spec.fields:
            continue  # a match-key field that is read but not written
        verdict = _field_verdict(spec.sobject, source_field, target.field(name))
        if isinstance(verdict, Problem):
            problems.append(verdict)
        else:
            written.append(verdict)
    insert = [info.name for info in written if info.createable]
    problems.extend(_read_only_problems(spec.sobject, written))
    problems.extend(_match_key_problems(spec, target))
    problems.extend(_unselected_required_fields(spec.sobject, target, insert))
    written_fields = {info.name.lower(): info for info in written}
    problems.extend(
        Problem(spec.sobject, name, message, blocking)
        for name, message, blocking in transform_problems(
            spec.transforms, written_fields
        )
    )
    references = {
        info.name: info.reference_to for info in written if info.type == "reference"
    }
    self_lookup = next(
        (info for info in written if info.reference_to == (spec.sobject,)), None
    )
    plan = ObjectPlan(
        spec=spec,
        read_fields=tuple(read),
        insert_fields=tuple(insert),
        update_fields=tuple(info.name for info in written if info.updateable),
        references=references,
        self_lookup=self_lookup.name if self_lookup else None,
        self_relationship=self_lookup.relationship_name if self_lookup else None,
        condition=pricebooks.base_condition(spec.sobject),
        passes=pricebooks.passes(spec.sobject),
        written_fields=written_fields,
    )
    return plan, problems


def _read_only_problems(sobject: str, written: list[FieldInfo]) -> list[Problem]:
    return [
        Problem(sobject, info.name, "read-only in the target org; not copied", False)
        for info in written
        if not info.createable and not info.updateable
    ]


def _field_verdict(
    sobject: str, source_field: FieldInfo, target_field: FieldInfo | None
) -> FieldInfo | Problem:
    name = source_field.name
    if target_field is None:
        return Problem(
            sobject, name, "does not exist in the target org; not copied", False
        )
    if (
        target_field.type_family != source_field.type_family
        and target_field.type_family != "text"
    ):
        return Problem(
            sobject,
            name,
            f"is {source_field.type} in the source org but {target_field.type} in the target org",
            True,
        )
    return target_field


def _match_key_problems(spec: ObjectSpec, target: ObjectSchema) -> list[Problem]:
    return [
        Problem(
            spec.sobject, name, "match-key field does not exist in the target org", True
        )
        for name in spec.match_key
        if target.field(name) is None
    ]


def _unselected_required_fields(
    sobject: str, target: ObjectSchema, insert_fields: Sequence[str]
) -> list[Problem]:
    selected = {name.lower() for name in insert_fields}
    return [
        Problem(
            sobject, info.name, "is required in the target org but not selected", True
        )
        for info in target.fields.values()
        if info.required_on_insert and info.name.lower() not in selected
    ]


def order_objects(plans: Sequence[ObjectPlan]) -> list[ObjectPlan]:
    """Order parents before children; break cycles by deferring lookups.

    Ties keep template order. When every remaining object waits on another (a true
    cycle), the earliest one goes next and its lookups to the others are deferred to a
    second update pass.
    """
    remaining = list(plans)
    names = {plan.sobject for plan in plans}
    ordered: list[ObjectPlan] = []
    while remaining:
        pending = {plan.sobject for plan in remaining}
        ready = next(
            (plan for plan in remaining if not _parents(plan, names) & pending), None
        )
        if ready is None:
            ready = remaining[0]
            ready.deferred_fields = tuple(
                name
                for name, refs in ready.references.items()
                if name != ready.self_lookup and set(refs) & (pending - {ready.sobject})
            )
        remaining.remove(ready)
        ordered.append(ready)
    return ordered


def _parents(plan: ObjectPlan, template_objects: set[str]) -> set[str]:
    return {
        ref
        for refs in plan.references.values()
        for ref in refs
        if ref in template_objects and ref != plan.sobject
    }
