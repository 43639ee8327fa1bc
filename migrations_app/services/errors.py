"""The one domain exception that interfaces translate for the user."""

from __future__ import annotations


class MigrationError(Exception):
    """Something the user must know about; ``permanent`` says whether retrying can help."""

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
