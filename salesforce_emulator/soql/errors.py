"""Salesforce's messages for names a query uses that the org's schema does not know.

The syntax errors come from the ``soql`` parser; these need the schema, so they live
with the evaluator.
"""

from __future__ import annotations

from soql.errors import SoqlError

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


def no_such_column(field: str, entity: str) -> SoqlError:
    return SoqlError(
        "INVALID_FIELD", _NO_SUCH_COLUMN.format(field=field, entity=entity)
    )


def bad_relationship(name: str) -> SoqlError:
    return SoqlError("INVALID_FIELD", _BAD_RELATIONSHIP.format(name=name))


def unsupported_type(name: str) -> SoqlError:
    return SoqlError("INVALID_TYPE", _BAD_TYPE.format(name=name))
