"""Recursive-descent parser for SOQL: SELECT (fields, parent paths, aggregates and
aliases), FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, OFFSET.

Syntax only: names are kept as written and checked against a schema by whoever runs the
query, so a WHERE filter can be validated without an org. The rules Salesforce applies
without a schema (a selected field must be grouped in an aggregate query, no aggregate
in WHERE...) are checked here, with Salesforce's messages.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

from . import lexer, nodes
from .errors import Refusal, SoqlError
from .lexer import Token


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


MAX_OFFSET: Final = 2000
MAX_RELATIONSHIP_DEPTH: Final = 5

# Words that cannot start a field name, so "SELECT Id, FROM X" fails on FROM rather
# than treating FROM as a column.
_RESERVED: Final = _words(
    """
        AND ASC DESC EXCLUDES FIRST FROM GROUP HAVING IN INCLUDES LAST LIKE LIMIT
        NOT NULL NULLS OR SELECT WHERE WITH TRUE FALSE ORDER OFFSET
    """
)

# Clause keywords Salesforce accepts but this parser does not model; named in the error
# so a gap is obvious rather than looking like a typo.
_UNSUPPORTED_CLAUSES: Final = {
    "WITH": "WITH",
    "FOR": "FOR VIEW/UPDATE",
    "USING": "USING SCOPE",
    "UPDATE": "UPDATE TRACKING/VIEWSTAT",
}

RANGE_LITERALS: Final = _words(
    """
        YESTERDAY TODAY TOMORROW LAST_WEEK THIS_WEEK NEXT_WEEK LAST_MONTH
        THIS_MONTH NEXT_MONTH LAST_90_DAYS NEXT_90_DAYS THIS_QUARTER LAST_QUARTER
        NEXT_QUARTER THIS_YEAR LAST_YEAR NEXT_YEAR
    """
)
N_RANGE_LITERALS: Final = _words(
    """
        LAST_N_DAYS NEXT_N_DAYS N_DAYS_AGO LAST_N_WEEKS NEXT_N_WEEKS N_WEEKS_AGO
        LAST_N_MONTHS NEXT_N_MONTHS N_MONTHS_AGO LAST_N_QUARTERS NEXT_N_QUARTERS
        N_QUARTERS_AGO LAST_N_YEARS NEXT_N_YEARS N_YEARS_AGO
    """
)

# Keywords that start a clause of a full query: after a bare WHERE condition they mean
# the text is more than a condition.
_CLAUSES_AFTER_WHERE: Final = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "ORDER": "ORDER BY",
    "LIMIT": "LIMIT",
    "OFFSET": "OFFSET",
    **_UNSUPPORTED_CLAUSES,
}

# Salesforce's messages for the aggregate rules it checks before reading any data.
NOT_GROUPED: Final = "Field must be grouped or aggregated: {field}"
ORDER_NOT_GROUPED: Final = "Ordered field must be grouped or aggregated: {field}"
AGGREGATE_IN_WHERE: Final = (
    "Aggregate functions are not allowed in the WHERE clause; filter on them with "
    "HAVING: {call}"
)

_COMPARISON_OPS: Final = {
    "=": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


def parse(text: str) -> nodes.Query:
    """Parse a full SELECT statement."""
    return _Parser(text).query()


def parse_where(text: str) -> nodes.Condition:
    """Parse a bare WHERE condition, e.g. ``Industry = 'Tech' AND IsActive = true``."""
    parser = _Parser(text)
    condition = parser.condition()
    parser.refuse_clause_after_condition()
    parser.expect_end()
    return condition


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = lexer.tokenize(text)
        self.index = 0
        # Aggregates may appear in conditions only while parsing HAVING.
        self.in_having = False

    # -- token helpers -------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def lookahead(self, distance: int = 1) -> Token:
        return self.tokens[min(self.index + distance, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != lexer.EOF:
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.current.upper in words

    def at_punct(self, char: str) -> bool:
        return _is_punct(self.current, char)

    def accept_keyword(self, word: str) -> bool:
        if self.current.upper == word:
            self.advance()
            return True
        return False

    def expect_keyword(self, word: str) -> Token:
        if self.current.upper != word:
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not self.at_punct(char):
            raise self.unexpected()
        return self.advance()

    def expect_end(self) -> None:
        self.refuse_unsupported_clause()
        if self.current.kind != lexer.EOF:
            raise self.unexpected()

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return self.error(f"unexpected token: '{token.describe()}'", token)

    def error(self, detail: str, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return SoqlError.malformed(detail, self.text, token.position)

    def unsupported(self, feature: str, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return SoqlError.malformed(
            f"not supported by this SOQL parser: {feature}",
            self.text,
            token.position,
            refusal=Refusal.UNMODELLED,
            construct=feature,
        )

    def refuse_unsupported_clause(self) -> None:
        feature = _UNSUPPORTED_CLAUSES.get(self.current.upper)
        if feature is not None:
            raise self.unsupported(feature)

    def refuse_clause_after_condition(self) -> None:
        clause = _CLAUSES_AFTER_WHERE.get(self.current.upper)
        if clause is not None:
            raise SoqlError.malformed(
                f"unexpected token: '{self.current.describe()}'",
                self.text,
                self.current.position,
                refusal=Refusal.CLAUSE_IN_CONDITION,
                construct=clause,
            )

    # -- statement -----------------------------------------------------------------

    def query(self) -> nodes.Query:
        self.expect_keyword("SELECT")
        select, is_count, aliases = self.select_list()
        self.expect_keyword("FROM")
        query = nodes.Query(
            sobject=self.object_name(),
            fields=[i.term for i in select if isinstance(i.term, nodes.FieldPath)],
            select=select,
            is_count=is_count,
            text=self.text,
        )
        self.refuse_unsupported_clause()
        if self.accept_keyword("WHERE"):
            query.where = self.condition()
        self.refuse_unsupported_clause()
        if self.at_keyword("GROUP") and self.lookahead().upper == "BY":
            self.index += 2
            query.group_by = self.group_by()
        if self.accept_keyword("HAVING"):
            self.in_having = True
            query.having = self.condition()
            self.in_having = False
        self.refuse_unsupported_clause()
        if self.at_keyword("ORDER") and self.lookahead().upper == "BY":
            self.index += 2
            query.order_by = self.order_by()
        if self.accept_keyword("LIMIT"):
            query.limit = self.integer()
        if self.at_keyword("OFFSET"):
            query.offset = self.offset()
        self.expect_end()
        self.check_grouping(query, aliases)
        return query

    def group_by(self) -> list[nodes.FieldPath]:
        if self.at_keyword("ROLLUP", "CUBE") and _is_punct(self.lookahead(), "("):
            raise self.unsupported(f"GROUP BY {self.current.upper}")
        paths = [self.field_path()]
        while self.at_punct(","):
            self.advance()
            paths.append(self.field_path())
        return paths

    # -- aggregate rules -------------------------------------------------------------

    def check_grouping(self, query: nodes.Query, aliases: list[Token]) -> None:
        """The rules Salesforce checks on the text of an aggregate query."""
        # HAVING filters groups: it makes the query an aggregate one, as GROUP BY does.
        uses_aggregates = query.is_aggregate or query.having is not None
        uses_aggregates |= any(
            isinstance(item.field, nodes.Aggregate) for item in query.order_by
        )
        if not uses_aggregates:
            if aliases:  # an alias names a column of an AggregateResult row only
                raise self.unexpected(aliases[0])
            return
        grouped = {path.dotted.lower() for path in query.group_by}
        for item in query.select:
            self.require_grouped(item.term, grouped, NOT_GROUPED)
        for order in query.order_by:
            self.require_grouped(order.field, grouped, ORDER_NOT_GROUPED)
        for path in _condition_fields(query.having):
            self.require_grouped(path, grouped, NOT_GROUPED)
        names = [name.lower() for name in query.result_names()]
        for index, name in enumerate(names):
            if name in names[:index] and query.select[index].alias:
                raise SoqlError(
                    "MALFORMED_QUERY", f"duplicate alias: {query.select[index].alias}"
                )

    def require_grouped(
        self, term: nodes.Term, grouped: set[str], message: str
    ) -> None:
        if isinstance(term, nodes.FieldPath) and term.dotted.lower() not in grouped:
            raise SoqlError.malformed(
                message.format(field=term.dotted), self.text, term.position
            )

    def object_name(self) -> str:
        token = self.current
        # Group and Order are real objects, so those two words are allowed here.
        reserved = token.upper in _RESERVED and token.upper not in ("GROUP", "ORDER")
        if token.kind != lexer.IDENT or reserved:
            raise self.unexpected()
        self.advance()
        if self.at_punct(","):
            raise self.unsupported("several objects in FROM")
        return token.text

    def offset(self) -> int:
        self.advance()
        token = self.current
        value = self.integer()
        if value > MAX_OFFSET:
            error = SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"Maximum SOQL offset allowed is {MAX_OFFSET}",
            )
            error.column = token.position + 1
            raise error
        return value

    def integer(self) -> int:
        token = self.current
        if token.kind != lexer.NUMBER or not token.text.isdigit():
            raise self.unexpected()
        self.advance()
        return int(token.text)

    # -- SELECT list ---------------------------------------------------------------

    def select_list(self) -> tuple[list[nodes.SelectItem], bool, list[Token]]:
        """The select items, whether it is a bare COUNT(), and the alias tokens."""
        items: list[nodes.SelectItem] = []
        aliases: list[Token] = []
        count_token: Token | None = None
        seen: set[str] = set()
        while True:
            token = self.current
            if self.is_count_call() and not self.alias_follows(3):
                count_token = token
                self.index += 3
            else:
                term = self.select_item()
                if isinstance(term, nodes.FieldPath):
                    key = term.dotted.lower()
                    if key in seen:
                        raise self.error(
                            f"duplicate field selected: {term.dotted}", token
                        )
                    seen.add(key)
                alias = self.alias()
                if alias is not None:
                    aliases.append(alias)
                items.append(nodes.SelectItem(term, alias.text if alias else None))
            if not self.at_punct(","):
                break
            self.advance()
        if count_token is not None and items:
            raise self.error(
                "COUNT() cannot be combined with other fields in the select list",
                count_token,
            )
        return items, count_token is not None, aliases

    def alias_follows(self, distance: int) -> bool:
        """Whether the token at ``distance`` is an alias: a plain word that ends the
        select item (so ``SELECT Id Account`` still fails on ``Account``)."""
        token = self.lookahead(distance)
        after = self.lookahead(distance + 1)
        ends_item = _is_punct(after, ",") or after.upper == "FROM"
        return token.kind == lexer.IDENT and token.upper not in _RESERVED and ends_item

    def alias(self) -> Token | None:
        return self.advance() if self.alias_follows(0) else None

    def aggregate(self) -> nodes.Aggregate:
        """``FUNC(field)`` or ``COUNT()``; the current token is the function name."""
        name = self.advance()
        self.expect_punct("(")
        field: nodes.FieldPath | None = None
        if not (name.upper == "COUNT" and self.at_punct(")")):
            field = self.field_path()
        self.expect_punct(")")
        return nodes.Aggregate(name.upper, field, name.position)

    def at_aggregate(self) -> bool:
        return self.current.upper in nodes.AGGREGATE_FUNCTIONS and _is_punct(
            self.lookahead(), "("
        )

    def is_count_call(self) -> bool:
        return (
            self.current.upper == "COUNT"
            and _is_punct(self.lookahead(1), "(")
            and _is_punct(self.lookahead(2), ")")
        )

    def select_item(self) -> nodes.Term:
        if self.at_punct("("):
            if self.lookahead().upper == "SELECT":
                raise self.unsupported("child relationship sub-queries")
            raise self.unexpected()
        if self.at_keyword("TYPEOF"):
            raise self.unsupported("TYPEOF")
        if self.at_aggregate():
            return self.aggregate()
        return self.field_path()

    def operand(self) -> nodes.Term:
        """The left side of a comparison: a field, or an aggregate inside HAVING."""
        if not self.at_aggregate():
            return self.field_path()
        token = self.current
        call = self.aggregate()
        if not self.in_having:
            raise self.error(AGGREGATE_IN_WHERE.format(call=call.text), token)
        return call

    def field_path(self) -> nodes.FieldPath:
        first = self.current
        # A reserved word can still name a relationship (GroupMember's Group.Name,
        # OrderItem's Order.Status): only reject it when no dot follows.
        reserved = first.upper in _RESERVED and not _is_punct(self.lookahead(), ".")
        if first.kind != lexer.IDENT or reserved:
            raise self.unexpected()
        if _is_punct(self.lookahead(), "("):
            raise self.unsupported(f"function {first.text}(...)")
        parts = [self.advance().text]
        while self.at_punct("."):
            self.advance()
            if self.current.kind != lexer.IDENT:
                raise self.unexpected()
            parts.append(self.advance().text)
        if len(parts) - 1 > MAX_RELATIONSHIP_DEPTH:
            raise self.error(
                "SOQL statements cannot query more than 5 levels of parent "
                "relationships",
                first,
            )
        return nodes.FieldPath(tuple(parts), first.position)

    # -- WHERE ---------------------------------------------------------------------

    def condition(self) -> nodes.Condition:
        """condition := term {AND term} | term {OR term}.

        Salesforce refuses ``a AND b OR c``: mixing the two at one level needs
        parentheses, so the first operator seen fixes the level's connective.
        """
        first = self.term()
        connective = self.current.upper
        if connective not in ("AND", "OR"):
            return first
        items = [first]
        while self.accept_keyword(connective):
            items.append(self.term())
        if self.at_keyword("AND", "OR"):
            raise self.unexpected()
        if connective == "AND":
            return nodes.And(tuple(items))
        return nodes.Or(tuple(items))

    def term(self) -> nodes.Condition:
        if self.accept_keyword("NOT"):
            return nodes.Not(self.term())
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> nodes.Comparison:
        path = self.operand()
        token = self.current
        if token.kind == lexer.OP:
            self.advance()
            return nodes.Comparison(path, _COMPARISON_OPS[token.text], (self.value(),))
        keyword = token.upper
        if keyword == "LIKE":
            self.advance()
            return nodes.Comparison(path, "LIKE", (self.string(),))
        if keyword == "NOT" and self.lookahead().upper == "IN":
            self.index += 2
            return nodes.Comparison(path, "NOT IN", self.value_list())
        if keyword in ("IN", "INCLUDES", "EXCLUDES"):
            self.advance()
            return nodes.Comparison(path, keyword, self.value_list())
        raise self.unexpected()

    def value_list(self) -> tuple[nodes.Literal, ...]:
        self.expect_punct("(")
        if self.at_keyword("SELECT"):
            raise self.unsupported("semi-join and anti-join sub-queries")
        values = [self.value()]
        while self.at_punct(","):
            self.advance()
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def string(self) -> nodes.Literal:
        token = self.current
        if token.kind != lexer.STRING:
            raise self.unexpected()
        self.advance()
        return nodes.Literal(
            nodes.STRING, lexer.unescape(token.text), token.position, token.text
        )

    def value(self) -> nodes.Literal:
        token = self.current
        kind = token.kind
        if kind == lexer.STRING:
            return self.string()
        if kind == lexer.NUMBER:
            self.advance()
            return nodes.Literal(nodes.NUMBER, Decimal(token.text), token.position)
        if kind == lexer.DATE:
            self.advance()
            return nodes.Literal(nodes.DATE, self.date_value(token), token.position)
        if kind == lexer.DATETIME:
            self.advance()
            return nodes.Literal(
                nodes.DATETIME, self.datetime_value(token), token.position
            )
        if kind == lexer.IDENT:
            return self.word_value()
        if self.at_punct(":"):
            raise SoqlError.malformed(
                "unexpected token: ':'",
                self.text,
                token.position,
                refusal=Refusal.APEX_BIND,
                construct="bind variable",
            )
        raise self.unexpected()

    def word_value(self) -> nodes.Literal:
        token = self.current
        word = token.upper
        if word in ("TRUE", "FALSE"):
            self.advance()
            return nodes.Literal(nodes.BOOLEAN, word == "TRUE", token.position)
        if word == "NULL":
            self.advance()
            return nodes.Literal(nodes.NULL, None, token.position)
        if word in RANGE_LITERALS:
            self.advance()
            return nodes.Literal(
                nodes.DATE_RANGE, nodes.RelativeDate(word), token.position
            )
        if word in N_RANGE_LITERALS:
            self.advance()
            self.expect_punct(":")
            n = self.integer()
            return nodes.Literal(
                nodes.DATE_RANGE, nodes.RelativeDate(word, n), token.position
            )
        if "FISCAL" in word:
            raise self.unsupported("fiscal date literals")
        raise self.unexpected()

    def date_value(self, token: Token) -> date:
        try:
            return date.fromisoformat(token.text)
        except ValueError:
            raise self.error(f"invalid date: {token.text}", token) from None

    def datetime_value(self, token: Token) -> datetime:
        try:
            return _parse_datetime_literal(token.text)
        except ValueError:
            raise self.error(f"invalid datetime: {token.text}", token) from None

    # -- ORDER BY ------------------------------------------------------------------

    def order_by(self) -> list[nodes.OrderItem]:
        items = [self.order_item()]
        while self.at_punct(","):
            self.advance()
            items.append(self.order_item())
        return items

    def order_item(self) -> nodes.OrderItem:
        path = self.aggregate() if self.at_aggregate() else self.field_path()
        descending = False
        if self.accept_keyword("DESC"):
            descending = True
        else:
            self.accept_keyword("ASC")
        nulls_first: bool | None = None
        if self.accept_keyword("NULLS"):
            if self.accept_keyword("FIRST"):
                nulls_first = True
            else:
                self.expect_keyword("LAST")
                nulls_first = False
        return nodes.OrderItem(path, descending, nulls_first)


def _is_punct(token: Token, char: str) -> bool:
    return token.kind == lexer.PUNCT and token.text == char


def _parse_datetime_literal(text: str) -> datetime:
    """``2024-01-15T10:30:00Z`` / ``...00.000+0000`` / ``...+01:00`` -> aware UTC."""
    body, zone = text, "Z"
    if text.endswith("Z"):
        body = text[:-1]
    else:
        body, zone = text[:-5], text[-5:]
        if text[-3] == ":":
            body, zone = text[:-6], text[-6:].replace(":", "")
    naive = datetime.fromisoformat(_trim_fraction(body))
    offset = timedelta(0)
    if zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
        if zone[0] == "-":
            offset = -offset
    return naive.replace(tzinfo=timezone(offset)).astimezone(UTC)


def _trim_fraction(body: str) -> str:
    """Keep at most microseconds so fromisoformat accepts any fraction length."""
    head, dot, fraction = body.partition(".")
    if not dot:
        return head
    return f"{head}.{fraction[:6].ljust(6, '0')}"


def _condition_fields(condition: nodes.Condition | None) -> list[nodes.FieldPath]:
    return [
        c.field for c in _comparisons(condition) if isinstance(c.field, nodes.FieldPath)
    ]


def _comparisons(condition: nodes.Condition | None) -> list[nodes.Comparison]:
    if condition is None:
        return []
    if isinstance(condition, nodes.Comparison):
        return [condition]
    if isinstance(condition, nodes.Not):
        return _comparisons(condition.item)
    return [c for item in condition.items for c in _comparisons(item)]
