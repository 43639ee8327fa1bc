"""The exception raised for a query Salesforce would refuse, and why it was refused."""

from __future__ import annotations

from enum import StrEnum


class Refusal(StrEnum):
    """What kind of problem a ``SoqlError`` reports, for callers that act on it.

    Callers branch on this, never on the message text (which follows Salesforce's
    wording and may change).
    """

    # Not valid SOQL, or valid SOQL used where Salesforce refuses it.
    INVALID = "invalid"
    # Valid SOQL that this parser does not model (semi-joins, TYPEOF, WITH ...).
    UNMODELLED = "unmodelled"
    # An Apex bind variable (``:name``): valid only inside Apex code.
    APEX_BIND = "apex_bind"
    # A clause keyword (GROUP BY, ORDER BY, LIMIT ...) after a bare WHERE condition.
    CLAUSE_IN_CONDITION = "clause_in_condition"


class SoqlError(Exception):
    """A query Salesforce would reject with HTTP 400.

    ``error_code`` is the REST ``errorCode`` (``MALFORMED_QUERY``, ``INVALID_FIELD``,
    ``INVALID_TYPE``, ``NUMBER_OUTSIDE_VALID_RANGE``, ``INVALID_QUERY_FILTER_OPERATOR``)
    and ``message`` the REST ``message``. ``detail`` is the message without the location
    banner, ``row`` / ``column`` (1-based) locate the offending token when known.
    """

    def __init__(
        self,
        error_code: str,
        message: str,
        *,
        refusal: Refusal = Refusal.INVALID,
        construct: str = "",
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.detail = message
        self.row: int | None = None
        self.column: int | None = None
        self.refusal = refusal
        # The SOQL construct refused, e.g. "GROUP BY" (set for the non-INVALID kinds).
        self.construct = construct

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"

    @classmethod
    def malformed(
        cls,
        detail: str,
        text: str,
        position: int,
        *,
        refusal: Refusal = Refusal.INVALID,
        construct: str = "",
    ) -> SoqlError:
        """A syntax error, located the way Salesforce does it.

        The real message repeats the offending line with a caret under the bad token,
        then ``ERROR at Row:r:Column:c`` and the reason; the app shows it to users who
        typed a WHERE filter, so the location is part of the message.
        """
        row, column, line = _locate(text, position)
        caret = " " * (column - 1) + "^"
        error = cls(
            "MALFORMED_QUERY",
            f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{detail}",
            refusal=refusal,
            construct=construct,
        )
        error.detail = detail
        error.row = row
        error.column = column
        return error


def _locate(text: str, position: int) -> tuple[int, int, str]:
    """1-based row and column of ``position`` in ``text``, and that row's text."""
    position = max(0, min(position, len(text)))
    before = text[:position]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    line_end = text.find("\n", position)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    return row, position - line_start + 1, line
