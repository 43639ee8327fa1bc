"""Errors raised by the emulator, shaped like Salesforce's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordError:
    """One error of one record (``statusCode`` in collections)."""

    code: str
    message: str
    fields: tuple[str, ...] = ()

    def as_collection_error(self) -> dict[str, Any]:
        return {
            "statusCode": self.code,
            "message": self.message,
            "fields": list(self.fields),
        }

    def as_api_error(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            body["fields"] = list(self.fields)
        return body

    def as_bulk_error(self) -> str:
        """``CODE:message:field1,field2 --`` as in Bulk API failedResults."""
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class RecordFailure(Exception):
    """A record could not be saved; carries its errors."""

    def __init__(self, *errors: RecordError) -> None:
        super().__init__("; ".join(f"{e.code}: {e.message}" for e in errors))
        self.errors = list(errors)

    @property
    def code(self) -> str:
        return self.errors[0].code

    @classmethod
    def of(
        cls, code: str, message: str, fields: tuple[str, ...] | list[str] = ()
    ) -> RecordFailure:
        return cls(RecordError(code, message, tuple(fields)))


@dataclass
class ApiError(Exception):
    """A request-level error: HTTP status plus a JSON array of errors."""

    status: int
    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self) -> list[dict[str, Any]]:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            item["fields"] = list(self.fields)
        return [item]

    @classmethod
    def from_failure(cls, failure: RecordFailure, status: int = 400) -> ApiError:
        first = failure.errors[0]
        return cls(status, first.code, first.message, list(first.fields))


class FieldValueError(ValueError):
    """A value cannot be converted to its field's type."""

    def __init__(self, field_name: str, field_type: str, value: Any) -> None:
        super().__init__(f"{field_name}: value not of required type: {value}")
        self.field_name = field_name
        self.field_type = field_type
        self.value = value

    def json_parser_error(self) -> ApiError:
        return ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {self.field_type} from VALUE_STRING value "
            f"{self.value} or request may be missing a required field",
        )

    def record_error(self) -> RecordError:
        return RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{self.field_name}: value not of required type: {self.value}",
            (self.field_name,),
        )


class OAuthError(Exception):
    """An OAuth endpoint error: ``{"error", "error_description"}`` with HTTP 400."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


NOT_FOUND_MESSAGE = "The requested resource does not exist"


def not_found(message: str = NOT_FOUND_MESSAGE) -> ApiError:
    return ApiError(404, "NOT_FOUND", message)
