"""Tokenizer for the SOQL subset.

One compiled regular expression with named alternatives scans the whole text; the order
of the alternatives matters: datetimes and dates must win over numbers (``2024-01-15``
would otherwise lex as ``2024`` ``-01``...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import SoqlError

IDENT: Final = "IDENT"
STRING: Final = "STRING"
NUMBER: Final = "NUMBER"
DATE: Final = "DATE"
DATETIME: Final = "DATETIME"
OP: Final = "OP"
PUNCT: Final = "PUNCT"  # ( ) , . :
EOF: Final = "EOF"

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<DATETIME>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<DATE>\d{4}-\d{2}-\d{2}(?![\w.:]))
  | (?P<NUMBER>[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?![\w.]))
  | (?P<IDENT>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<STRING>')
  | (?P<OP>!=|<>|<=|>=|=|<|>)
  | (?P<PUNCT>[(),.:])
    """,
    re.VERBOSE,
)

# Backslash escapes SOQL accepts inside quoted strings. \% and \_ only mean something
# to LIKE but are legal everywhere; \uXXXX is handled separately.
SIMPLE_ESCAPES: Final = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "%": "%",
    "_": "_",
}
_HEX4_RE = re.compile(r"[0-9a-fA-F]{4}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    # Identifier or operator text as written; for STRING the raw body between the
    # quotes with escapes still in place (LIKE needs to tell \% from %).
    text: str
    position: int

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == IDENT else ""

    def describe(self) -> str:
        """How the token appears in an "unexpected token" message."""
        if self.kind == EOF:
            return "<EOF>"
        if self.kind == STRING:
            return f"'{self.text}'"
        return self.text


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an EOF token."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None:
            bad = text[position]
            raise SoqlError.malformed(f"unexpected token: '{bad}'", text, position)
        kind = match.lastgroup
        if kind == STRING:
            body, position = _scan_string(text, position)
            tokens.append(Token(STRING, body, match.start()))
            continue
        if kind != "ws":
            assert kind is not None
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token(EOF, "", len(text)))
    return tokens


def _scan_string(text: str, start: int) -> tuple[str, int]:
    """Return the raw body of the string opening at ``start`` and the index after it."""
    index = start + 1
    while index < len(text):
        char = text[index]
        if char == "'":
            return text[start + 1 : index], index + 1
        if char == "\\":
            index += _escape_length(text, index)
            continue
        index += 1
    raise SoqlError.malformed("unterminated string literal", text, start)


def _escape_length(text: str, index: int) -> int:
    """Length of the escape sequence at ``index`` (a backslash); reject unknown ones."""
    follower = text[index + 1 : index + 2]
    if follower in SIMPLE_ESCAPES:
        return 2
    if follower == "u" and _HEX4_RE.fullmatch(text, index + 2, index + 6):
        return 6
    raise SoqlError.malformed(
        f"Invalid string literal: illegal character sequence '\\{follower}'",
        text,
        index,
    )


def unescape(raw: str) -> str:
    """Decode a STRING token body (already validated by the tokenizer)."""
    if "\\" not in raw:
        return raw
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        follower = raw[index + 1]
        if follower == "u":
            out.append(chr(int(raw[index + 2 : index + 6], 16)))
            index += 6
        else:
            out.append(SIMPLE_ESCAPES[follower])
            index += 2
    return "".join(out)


def like_regex(raw: str) -> re.Pattern[str]:
    """Compile a LIKE pattern body: % is any run, _ one char, escaped ones literal."""
    parts: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\":
            length = 6 if raw[index + 1] == "u" else 2
            parts.append(re.escape(unescape(raw[index : index + length])))
            index += length
            continue
        if char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
