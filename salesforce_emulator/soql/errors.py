"""The single exception type raised by the SOQL engine."""

from __future__ import annotations

# Salesforce's wording for unknown names. The migration app branches on the error code
# only, but people read these messages in logs, so they match the real org's text.
_NO_SUCH_COLUMN = (
    "No such column '{field}' on entity '{entity}'. If you are attempting to use a "
    "custom field, be sure to append the '__c' after the custom field name. Please "
    "reference your WSDL or the describe call for the appropriate names."
)
_BAD_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to "
    "use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_BAD_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom "
    "object, be sure to append the '__c' after the entity name. Please reference your "
    "WSDL or the describe call for the appropriate names."
)


class SoqlError(Exception):
    """A query Salesforce would reject with HTTP 400.

    ``error_code`` is the REST ``errorCode`` (``MALFORMED_QUERY``, ``INVALID_FIELD``,
    ``INVALID_TYPE``, ``NUMBER_OUTSIDE_VALID_RANGE``, ``INVALID_QUERY_FILTER_OPERATOR``)
    and ``message`` the REST ``message``. ``detail`` is the message without the location
    banner, ``row`` / ``column`` (1-based) locate the offending token when known.
    """

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.detail = message
        self.row: int | None = None
        self.column: int | None = None

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}"

    @classmethod
    def malformed(cls, detail: str, text: str, position: int) -> SoqlError:
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


def no_such_column(field: str, entity: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD", _NO_SUCH_COLUMN.format(field=field, entity=entity)
    )


def bad_relationship(name: str) -> SoqlError:
    return SoqlError("INVALID_FIELD", _BAD_RELATIONSHIP.format(name=name))


def unsupported_type(name: str) -> SoqlError:
    return SoqlError("INVALID_TYPE", _BAD_TYPE.format(name=name))
