"""What to do with one source record, per record-mapping strategy (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import EnumType, StrEnum


class _Choices(EnumType):
    """``values`` and ``choices`` on the class, as Django's TextChoices has them, so
    that models and forms use this one type without the engine importing Django."""

    @property
    def values(cls) -> list[str]:
        return [member.value for member in cls]  # type: ignore[var-annotated]

    @property
    def choices(cls) -> list[tuple[str, str]]:
        return [(member.value, member.label) for member in cls]  # type: ignore[var-annotated]


class Strategy(StrEnum, metaclass=_Choices):
    """The record-mapping strategy of a run (DESIGN.md): the one type for it."""

    NONE = "none"
    VEID = "veid"
    VEID_MATCH = "veid_match"

    @property
    def label(self) -> str:
        return STRATEGY_LABELS[self]


STRATEGY_LABELS = {
    Strategy.NONE: "None: insert everything",
    Strategy.VEID: "VEID: mapping table",
    Strategy.VEID_MATCH: "VEID + match existing target records",
}


class Action(StrEnum):
    INSERT = "insert"
    UPDATE = "update"
    ADOPT = "adopt"
    AMBIGUOUS = "ambiguous"
    # The mapping exists but can no longer be trusted: fail until the user repairs it.
    OUTDATED = "outdated"


@dataclass(frozen=True)
class Mapped:
    target_id: str
    outdated: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    target_id: str | None = None
    candidates: tuple[str, ...] = ()
    # Ambiguous because another source record has the same single twin.
    contested: bool = False


# The most frequent decision, made once: a first run decides it for every record.
INSERT = Decision(Action.INSERT)


def decide(
    strategy: Strategy,
    *,
    mapping: Mapped | None,
    matches: Sequence[str] = (),
    contested: bool = False,
    same_id: str | None = None,
) -> Decision:
    """Decide insert, update, adopt or ambiguous for one source record.

    ``matches`` are the unmapped target records whose match key equals the record's;
    only ``veid_match`` looks at them, and only for records without a mapping.
    ``same_id`` is the record's own Id when an unmapped target record has it (the
    target is a sandbox copy of the source): ``veid`` and ``veid_match`` adopt it.
    """
    if strategy is Strategy.NONE:
        return INSERT
    if mapping is not None:
        if mapping.outdated:
            return Decision(Action.OUTDATED, mapping.target_id)
        return Decision(Action.UPDATE, mapping.target_id)
    if same_id is not None:
        return Decision(Action.ADOPT, same_id)
    if strategy is Strategy.VEID or not matches:
        return INSERT
    if contested:
        return Decision(Action.AMBIGUOUS, candidates=tuple(matches), contested=True)
    if len(matches) == 1:
        return Decision(Action.ADOPT, matches[0])
    return Decision(Action.AMBIGUOUS, candidates=tuple(matches))
