"""The dev org's SOQL engine: parses a documented subset of SOQL and runs it over in-memory records.

Supported (docs/devorg-soql.md is the full reference):

- `SELECT f1, f2, ... FROM Object` and `SELECT COUNT() FROM Object`; keywords, object and field
  names are case-insensitive and resolve to the schema's canonical spelling.
- `WHERE` with AND / OR / NOT and parentheses (AND and OR may not be mixed at one level, as in
  SOQL), `= != <> < <= > >=`, `IN (...)`, `NOT IN (...)`, `LIKE` with `%` / `_` wildcards.
- Literals: quoted strings with SOQL escapes, `null`, `TRUE` / `FALSE`, numbers, date and
  dateTime literals (`Z`, milliseconds, `+hh:mm` / `-hh:mm` offsets), 15- or 18-character Ids.
- `ORDER BY f [ASC|DESC] [NULLS FIRST|NULLS LAST], ...` (stable) and `LIMIT n`.

Everything else (relationship fields, subqueries, aggregates other than COUNT(), GROUP BY, OFFSET,
date functions and date literals such as TODAY, ...) raises SoqlError(MALFORMED_QUERY) rather than
risk a wrong answer. Semantics follow Salesforce: string comparisons are case-insensitive, `!=`
and `NOT IN` match nulls, ordering comparisons and LIKE never match null, a boolean null is false,
empty text is null, Ids compare case-sensitively on their 15-character form.

`parse` compiles the WHERE clause once into closures; `execute` (or `match` + `project`) then
filters, sorts, limits and projects without re-reading the query text.
"""

from __future__ import annotations

import gc
import operator
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice

from salesops_dagster.devorg.ids import checksum
from salesops_dagster.devorg.schema import (
    BOOL,
    DATE,
    DATETIME,
    DOUBLE,
    ID,
    INT,
    REF,
    STR,
    OrgSchema,
)

MALFORMED_QUERY = "MALFORMED_QUERY"
INVALID_FIELD = "INVALID_FIELD"
INVALID_TYPE = "INVALID_TYPE"

Record = dict[str, object]
Predicate = Callable[[Record], bool]


class SoqlError(Exception):
    """A query Salesforce would refuse; `error_code` and `message` go into the REST error body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True)
class OrderKey:
    """One ORDER BY item. `kind` picks the sort key: 'text' (case-insensitive), 'bool', 'raw'."""

    field: str
    descending: bool
    nulls_first: bool
    kind: str


@dataclass(frozen=True)
class Query:
    """A parsed, type-checked query; `where` is the compiled filter (None without WHERE)."""

    sobject: str
    fields: list[str]
    count_only: bool
    limit: int | None
    order_by: tuple[OrderKey, ...] = ()
    where: Predicate | None = field(default=None, compare=False, repr=False)
    where_fields: frozenset[str] = frozenset()


def parse(text: str, schema: OrgSchema) -> Query:
    """Parse and type-check `text` against `schema`; raise SoqlError for anything unsupported."""
    if text is None or not text.strip():
        raise SoqlError(MALFORMED_QUERY, "SOQL statements cannot be empty or null")
    raw = _Parser(text).query()
    return _Compiler(text, schema).query(raw)


def execute(query: Query, records: Iterable[Record], include_deleted: bool = False) -> list[Record]:
    """Matching records, sorted and limited, projected to new dicts in SELECT order.

    `include_deleted=False` is the `query` endpoint (drops IsDeleted records), True is `queryAll`.
    For COUNT() the matching records come back unprojected (the caller only needs len()).
    """
    rows, order = _select(query, records, include_deleted)
    if query.count_only:
        return rows
    if order is None:
        return project(query, rows)
    if len(order) < len(rows) // 4:  # a small LIMIT: project only the rows returned
        return project(query, list(map(rows.__getitem__, order)))
    # Projecting in input order and permuting afterwards reads the stored records sequentially;
    # projecting them in sorted order costs a cache miss per field and is twice as slow.
    projected = project(query, rows)
    return list(map(projected.__getitem__, order))


def match(query: Query, records: Iterable[Record], include_deleted: bool = False) -> list[Record]:
    """The stored records the query selects, sorted and limited but not projected.

    With `project` a server can keep a huge result and project one page at a time.
    """
    rows, order = _select(query, records, include_deleted)
    return rows if order is None else list(map(rows.__getitem__, order))


def project(query: Query, rows: Iterable[Record]) -> list[Record]:
    """New dicts with exactly `query.fields`, in SELECT order; a missing field is None."""
    fields = query.fields
    rows = rows if isinstance(rows, list) else list(rows)
    with _gc_paused(len(rows) >= _GC_PAUSE_THRESHOLD):
        return [{name: row.get(name) for name in fields} for row in rows]


def query_fields_used(query: Query) -> frozenset[str]:
    """Every canonical field the query reads: SELECT list, WHERE and ORDER BY."""
    ordered = {key.field for key in query.order_by}
    return frozenset(query.fields) | query.where_fields | ordered


# --- execution -------------------------------------------------------------------------------


def _select(
    query: Query, records: Iterable[Record], include_deleted: bool
) -> tuple[list[Record], list[int] | None]:
    """The matching records in input order, and with ORDER BY the indices of the result in order.

    Without ORDER BY the records are already the limited result.
    """
    matching = _filtered(query.where, records, include_deleted)
    if not query.order_by:
        limited = matching if query.limit is None else islice(matching, query.limit)
        return list(limited), None
    rows = list(matching)
    order = _sort_order(rows, query.order_by)
    return rows, order if query.limit is None else order[: query.limit]


def _filtered(
    where: Predicate | None, records: Iterable[Record], include_deleted: bool
) -> Iterator[Record]:
    if where is None:
        if include_deleted:
            return iter(records)
        return (r for r in records if not r.get("IsDeleted"))
    if include_deleted:
        return (r for r in records if where(r))
    return (r for r in records if not r.get("IsDeleted") and where(r))


def _sort_order(rows: list[Record], keys: tuple[OrderKey, ...]) -> list[int]:
    """Indices of `rows` sorted by `keys`: a stable sort per key, from the last key to the first."""
    order = list(range(len(rows)))
    for key in reversed(keys):
        values = _sort_values(rows, key)
        present = [i for i in order if values[i] is not None]
        nulls = [i for i in order if values[i] is None] if len(present) < len(order) else []
        present.sort(key=values.__getitem__, reverse=key.descending)  # reverse keeps ties stable
        order = nulls + present if key.nulls_first else present + nulls
    return order


def _sort_values(rows: list[Record], key: OrderKey) -> list[object]:
    """Each row's sort value, None for null: text sorts case-insensitively, empty text is null."""
    name = key.field
    if key.kind == "text":
        return [v.upper() if (v := r.get(name)) else None for r in rows]  # type: ignore[attr-defined]
    if key.kind == "bool":
        return [bool(r.get(name)) for r in rows]  # Salesforce booleans are never null
    return [r.get(name) for r in rows]


# Projecting a million rows allocates a million dicts; with as many long-lived records in memory
# the cyclic GC would rescan them all several times. The new dicts hold no cycles, so pausing
# the collector for the duration is safe and roughly halves the time.
_GC_PAUSE_THRESHOLD = 50_000


class _GcPause:
    """Reference-counted pause so concurrent queries on server threads re-enable GC exactly once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._was_enabled = False

    def acquire(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._was_enabled:
                gc.enable()


_GC_PAUSE = _GcPause()


@contextmanager
def _gc_paused(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    _GC_PAUSE.acquire()
    try:
        yield
    finally:
        _GC_PAUSE.release()


# --- errors ----------------------------------------------------------------------------------


def _positioned(text: str, pos: int, detail: str) -> str:
    """Salesforce's message shape: the query row, a caret, 'ERROR at Row:r:Column:c', detail."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : len(text) if line_end < 0 else line_end].rstrip("\r")
    row = text.count("\n", 0, pos) + 1
    column = pos - line_start + 1
    caret = " " * (column - 1) + "^"
    return f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{detail}"


def _error(code: str, text: str, pos: int, detail: str) -> SoqlError:
    return SoqlError(code, _positioned(text, pos, detail))


# --- lexer -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int
    value: str = ""  # decoded string literal
    like_regex: str = ""  # the string literal as a LIKE pattern
    like_escape_at: int = -1  # position of a \% or \_ (valid only in LIKE)

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else ""


_TOKEN_RE = re.compile(
    r"""
      (?P<ws>\s+)
    | (?P<datetime>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,3})?
                   (?:Z|[+-][0-9]{2}:[0-9]{2}))
    | (?P<partial_datetime>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]*)
    | (?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})
    | (?P<number>[+-]?[0-9]+(?:\.[0-9]+)?)
    | (?P<ident>[A-Za-z][A-Za-z0-9_]*)
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),.:])
    """,
    re.VERBOSE,
)

_ESCAPES = {
    "n": "\n",
    "N": "\n",
    "r": "\r",
    "R": "\r",
    "t": "\t",
    "T": "\t",
    "b": "\b",
    "B": "\b",
    "f": "\f",
    "F": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'":
            token, pos = _lex_string(text, pos)
            tokens.append(token)
            continue
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _error(MALFORMED_QUERY, text, pos, _no_viable(text, pos))
        if m.lastgroup == "partial_datetime":
            # A dateTime without a zone, typically a '+hh:mm' whose '+' became a space in the URL.
            raise _error(MALFORMED_QUERY, text, m.end(), _no_viable(text, m.end()))
        if m.lastgroup != "ws":
            tokens.append(_Token(m.lastgroup or "", m.group(), pos))
        pos = m.end()
    tokens.append(_Token("eof", "<EOF>", len(text)))
    return tokens


def _no_viable(text: str, pos: int) -> str:
    char = text[pos] if pos < len(text) else "<EOF>"
    return f"no viable alternative at character '{char}'"


def _lex_string(text: str, start: int) -> tuple[_Token, int]:
    """A single-quoted literal: its decoded value and the same text as a LIKE regex."""
    chars: list[str] = []
    regex: list[str] = []
    like_escape_at = -1
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "'":
            token = _Token(
                "string",
                text[start : pos + 1],
                start,
                value="".join(chars),
                like_regex="".join(regex),
                like_escape_at=like_escape_at,
            )
            return token, pos + 1
        if char != "\\":
            chars.append(char)
            if char != "%" or regex[-1:] != [".*"]:  # '%%' as '.*.*' would backtrack needlessly
                regex.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
            pos += 1
            continue
        escaped = text[pos + 1 : pos + 2]
        if escaped in _ESCAPES:
            decoded, pos = _ESCAPES[escaped], pos + 2
        elif escaped in ("%", "_"):
            decoded, pos = escaped, pos + 2
            like_escape_at = pos - 2 if like_escape_at < 0 else like_escape_at
        elif escaped == "u" and _HEX4.fullmatch(text, pos + 2, pos + 6):
            decoded, pos = chr(int(text[pos + 2 : pos + 6], 16)), pos + 6
        else:
            sequence = text[pos : pos + 2]
            detail = f"Invalid string literal: illegal character sequence '{sequence}'"
            raise _error(MALFORMED_QUERY, text, pos, detail)
        chars.append(decoded)
        regex.append(re.escape(decoded))
    raise _error(MALFORMED_QUERY, text, start, "unterminated string literal")


# --- parser ----------------------------------------------------------------------------------

_RESERVED = frozenset(
    {
        "AND",
        "ASC",
        "BY",
        "DESC",
        "EXCLUDES",
        "FALSE",
        "FIRST",
        "FROM",
        "GROUP",
        "HAVING",
        "IN",
        "INCLUDES",
        "LAST",
        "LIKE",
        "LIMIT",
        "NOT",
        "NULL",
        "NULLS",
        "OFFSET",
        "OR",
        "ORDER",
        "SELECT",
        "TRUE",
        "TYPEOF",
        "USING",
        "WHERE",
        "WITH",
    }
)
_UNSUPPORTED_CLAUSES = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "OFFSET": "OFFSET",
    "WITH": "WITH",
    "USING": "USING SCOPE",
    "FOR": "FOR VIEW / FOR REFERENCE / FOR UPDATE",
    "UPDATE": "UPDATE TRACKING / UPDATE VIEWSTAT",
    "INCLUDES": "INCLUDES (multi-select picklists)",
    "EXCLUDES": "EXCLUDES (multi-select picklists)",
}
_MAX_DEPTH = 100


@dataclass(frozen=True)
class _Comparison:
    field: _Token
    op: str  # = != < <= > >= IN NOT_IN LIKE
    op_token: _Token
    values: tuple[_Token, ...]


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _Junction:
    op: str  # AND, OR
    operands: tuple[_Node, ...]


_Node = _Comparison | _Not | _Junction


@dataclass(frozen=True)
class _RawOrder:
    field: _Token
    descending: bool
    nulls_first: bool | None


@dataclass(frozen=True)
class _RawQuery:
    count_only: bool
    fields: tuple[_Token, ...]
    sobject: _Token
    where: _Node | None
    order_by: tuple[_RawOrder, ...]
    limit: int | None


class _Parser:
    """Recursive descent over the token list; syntax only, no schema."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _lex(text)
        self.index = 0
        self.depth = 0

    # token helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        token = self.peek()
        self.index += 1
        return token

    def accept_keyword(self, word: str) -> _Token | None:
        return self.advance() if self.peek().upper == word else None

    def accept_punct(self, char: str) -> bool:
        token = self.peek()
        if token.kind == "punct" and token.text == char:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if self.accept_keyword(word) is None:
            raise self.unexpected(self.peek())

    def expect_punct(self, char: str) -> None:
        if not self.accept_punct(char):
            raise self.unexpected(self.peek())

    def malformed(self, token: _Token, detail: str) -> SoqlError:
        return _error(MALFORMED_QUERY, self.text, token.pos, detail)

    def unexpected(self, token: _Token) -> SoqlError:
        detail = f"unexpected token: '{token.text}'"
        if token.upper in _UNSUPPORTED_CLAUSES:
            detail += f" ({_UNSUPPORTED_CLAUSES[token.upper]} is not supported by the dev org)"
        return self.malformed(token, detail)

    # grammar
    def query(self) -> _RawQuery:
        self.expect_keyword("SELECT")
        count_only, fields = self.select_list()
        self.expect_keyword("FROM")
        sobject = self.sobject_name()
        where = self.condition() if self.accept_keyword("WHERE") else None
        order_by: tuple[_RawOrder, ...] = ()
        if self.accept_keyword("ORDER"):
            self.expect_keyword("BY")
            order_by = self.order_list()
        limit = self.limit() if self.accept_keyword("LIMIT") else None
        if self.peek().kind != "eof":
            raise self.unexpected(self.peek())
        return _RawQuery(count_only, fields, sobject, where, order_by, limit)

    def select_list(self) -> tuple[bool, tuple[_Token, ...]]:
        first = self.peek()
        if first.upper == "COUNT" and self.peek(1).text == "(":
            self.index += 2
            if not self.accept_punct(")"):
                raise self.malformed(
                    first, "aggregate functions other than COUNT() are not supported by the dev org"
                )
            if self.peek().text == ",":
                raise self.malformed(self.peek(), "COUNT() cannot be combined with other fields")
            return True, ()
        fields = [self.name()]
        while self.accept_punct(","):
            fields.append(self.name())
        return False, tuple(fields)

    def sobject_name(self) -> _Token:
        """The object after FROM. `Group` is an sObject as well as a keyword (GROUP BY)."""
        token = self.peek()
        if token.kind == "ident" and token.upper == "GROUP" and self.peek(1).upper != "BY":
            self.index += 1
            return token
        return self.name()

    def name(self) -> _Token:
        """A field or sObject name: a plain identifier, not a path, call or subquery."""
        token = self.peek()
        if token.kind == "punct" and token.text == "(":
            raise self.malformed(token, "subqueries are not supported by the dev org")
        if token.kind != "ident" or token.upper in _RESERVED:
            if token.upper == "TYPEOF":
                raise self.malformed(token, "TYPEOF is not supported by the dev org")
            raise self.unexpected(token)
        following = self.peek(1)
        if following.text == "(":
            detail = f"functions such as {token.text}() are not supported by the dev org"
            raise self.malformed(token, detail)
        if following.text == ".":
            path = f"{token.text}.{self.peek(2).text}"
            detail = f"relationship fields such as '{path}' are not supported by the dev org"
            raise self.malformed(token, detail)
        return self.advance()

    def condition(self) -> _Node:
        """Operands joined by one connective: SOQL requires parentheses to mix AND and OR."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.malformed(self.peek(), "WHERE clause is nested too deeply")
        operands = [self.unary()]
        connective = ""
        while self.peek().upper in ("AND", "OR"):
            token = self.peek()
            if connective and token.upper != connective:
                raise self.unexpected(token)
            connective = token.upper
            self.index += 1
            operands.append(self.unary())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else _Junction(connective, tuple(operands))

    def unary(self) -> _Node:
        if self.accept_keyword("NOT"):
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise self.malformed(self.peek(), "WHERE clause is nested too deeply")
            operand = self.unary()
            self.depth -= 1
            return _Not(operand)
        if self.accept_punct("("):
            node = self.condition()
            self.expect_punct(")")
            return node
        return self.comparison()

    def comparison(self) -> _Comparison:
        field_token = self.name()
        op_token = self.peek()
        if op_token.kind == "op":
            self.index += 1
            op = "!=" if op_token.text == "<>" else op_token.text
            return _Comparison(field_token, op, op_token, (self.value(),))
        if self.accept_keyword("IN"):
            return _Comparison(field_token, "IN", op_token, self.value_list())
        if op_token.upper == "NOT" and self.peek(1).upper == "IN":
            self.index += 2
            return _Comparison(field_token, "NOT_IN", op_token, self.value_list())
        if self.accept_keyword("LIKE"):
            return _Comparison(field_token, "LIKE", op_token, (self.value(),))
        raise self.unexpected(op_token)

    def value(self) -> _Token:
        token = self.peek()
        if token.kind in ("string", "number", "date", "datetime"):
            return self.advance()
        if token.upper in ("NULL", "TRUE", "FALSE"):
            return self.advance()
        if token.kind == "ident":
            detail = (
                f"unsupported value '{token.text}': date literals (TODAY, LAST_N_DAYS:n, ...), "
                "date functions and field-to-field comparisons are not supported by the dev org"
            )
            raise self.malformed(token, detail)
        if token.text == ":":
            raise self.malformed(token, "bind variables are not supported by the dev org")
        raise self.unexpected(token)

    def value_list(self) -> tuple[_Token, ...]:
        self.expect_punct("(")
        if self.peek().upper == "SELECT":
            raise self.malformed(
                self.peek(), "semi-join subqueries are not supported by the dev org"
            )
        values = [self.value()]
        while self.accept_punct(","):
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def order_list(self) -> tuple[_RawOrder, ...]:
        keys = []
        while True:
            field_token = self.name()
            descending = self.accept_keyword("DESC") is not None
            if not descending:
                self.accept_keyword("ASC")
            nulls_first = None
            if self.accept_keyword("NULLS"):
                if self.accept_keyword("FIRST"):
                    nulls_first = True
                elif self.accept_keyword("LAST"):
                    nulls_first = False
                else:
                    raise self.unexpected(self.peek())
            keys.append(_RawOrder(field_token, descending, nulls_first))
            if not self.accept_punct(","):
                return tuple(keys)

    def limit(self) -> int:
        token = self.advance()
        if token.kind != "number" or not token.text.isdigit():
            raise self.malformed(token, "LIMIT must be a non-negative integer")
        return int(token.text)


# --- semantic checks and compilation ---------------------------------------------------------

_TYPE_NAMES = {
    ID: "id",
    REF: "id",
    STR: "string",
    BOOL: "boolean",
    INT: "integer",
    DOUBLE: "double",
    DATETIME: "dateTime",
    DATE: "date",
}
_LITERAL_KINDS = {
    ID: "string",
    REF: "string",
    STR: "string",
    INT: "number",
    DOUBLE: "number",
    DATETIME: "datetime",
    DATE: "date",
}
_ORDERING_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_NO_SUCH_COLUMN = (
    "No such column '{field}' on entity '{sobject}'. If you are attempting to use a custom field, "
    "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)
_NOT_SUPPORTED_TYPE = (
    "sObject type '{sobject}' is not supported. If you are attempting to use a custom object, be "
    "sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
    "call for the appropriate names."
)


class _Compiler:
    """Resolves names against the schema, type-checks literals and builds the closures."""

    def __init__(self, text: str, schema: OrgSchema) -> None:
        self.text = text
        self.schema = schema
        self.sobject = ""
        self.where_fields: set[str] = set()

    def query(self, raw: _RawQuery) -> Query:
        sobject = self.schema.sobject(raw.sobject.text)
        if sobject is None:
            detail = _NOT_SUPPORTED_TYPE.format(sobject=raw.sobject.text)
            raise _error(INVALID_TYPE, self.text, raw.sobject.pos, detail)
        self.sobject = sobject
        fields = self.select_fields(raw.fields)
        where = self.node(raw.where) if raw.where is not None else None
        if raw.count_only and raw.order_by:
            raise self.malformed(raw.order_by[0].field, "ORDER BY cannot be used with COUNT()")
        order_by = tuple(self.order_key(item) for item in raw.order_by)
        return Query(
            sobject=sobject,
            fields=fields,
            count_only=raw.count_only,
            limit=raw.limit,
            order_by=order_by,
            where=where,
            where_fields=frozenset(self.where_fields),
        )

    def malformed(self, token: _Token, detail: str) -> SoqlError:
        return _error(MALFORMED_QUERY, self.text, token.pos, detail)

    def invalid_field(self, token: _Token, detail: str) -> SoqlError:
        return _error(INVALID_FIELD, self.text, token.pos, detail)

    def resolve(self, token: _Token) -> tuple[str, str]:
        name = self.schema.field(self.sobject, token.text)
        if name is None:
            detail = _NO_SUCH_COLUMN.format(field=token.text, sobject=self.sobject)
            raise self.invalid_field(token, detail)
        return name, self.schema.type_of(self.sobject, name)

    def select_fields(self, tokens: tuple[_Token, ...]) -> list[str]:
        fields: list[str] = []
        for token in tokens:
            name, _ = self.resolve(token)
            if name in fields:
                raise SoqlError(MALFORMED_QUERY, f"duplicate field selected: {name}")
            fields.append(name)
        return fields

    def order_key(self, item: _RawOrder) -> OrderKey:
        name, field_type = self.resolve(item.field)
        nulls_first = not item.descending if item.nulls_first is None else item.nulls_first
        kind = "text" if field_type == STR else "bool" if field_type == BOOL else "raw"
        return OrderKey(name, item.descending, nulls_first, kind)

    def node(self, node: _Node) -> Predicate:
        if isinstance(node, _Comparison):
            return self.comparison(node)
        if isinstance(node, _Not):
            inner = self.node(node.operand)
            return lambda r: not inner(r)
        operands = [self.node(operand) for operand in node.operands]
        return _all_of(operands) if node.op == "AND" else _any_of(operands)

    def comparison(self, node: _Comparison) -> Predicate:
        name, field_type = self.resolve(node.field)
        self.where_fields.add(name)
        self.check_operator(node, name, field_type)
        if node.op == "LIKE":
            return _like(name, self.like_pattern(node.values[0], name))
        values = [self.literal(token, name, field_type) for token in node.values]
        if field_type == STR:
            return _normalised(name, node.op, values, _text_key)
        if field_type in (ID, REF):
            return _normalised(name, node.op, values, _id_key)
        if field_type == BOOL:
            return _normalised(name, node.op, values, bool)
        return _raw(name, node.op, values)

    def check_operator(self, node: _Comparison, name: str, field_type: str) -> None:
        if node.op == "LIKE" and field_type != STR:
            detail = f"invalid operator on field '{name}': LIKE is only valid on string fields"
            raise self.invalid_field(node.op_token, detail)
        if node.op in _ORDERING_OPS and field_type == BOOL:
            detail = f"invalid operator on field '{name}': {node.op} is not valid on boolean fields"
            raise self.invalid_field(node.op_token, detail)
        ordering = node.op in _ORDERING_OPS or node.op == "LIKE"
        if ordering and node.values[0].upper == "NULL":
            raise self.malformed(node.values[0], "null can only be used with =, !=, IN and NOT IN")

    def like_pattern(self, token: _Token, name: str) -> str:
        if token.kind != "string":
            raise self.type_mismatch(token, name, STR)
        return token.like_regex

    def literal(self, token: _Token, name: str, field_type: str) -> object:
        """The literal as the comparison closures expect it (see _text_key, _id_key)."""
        if token.upper == "NULL":
            return False if field_type == BOOL else None
        if field_type == BOOL:
            if token.upper not in ("TRUE", "FALSE"):
                raise self.type_mismatch(token, name, field_type)
            return token.upper == "TRUE"
        if token.kind != _LITERAL_KINDS[field_type]:
            raise self.type_mismatch(token, name, field_type)
        if token.kind == "string":
            if token.like_escape_at >= 0:
                detail = "\\% and \\_ escapes are only valid in a LIKE pattern"
                raise _error(MALFORMED_QUERY, self.text, token.like_escape_at, detail)
            if field_type == STR:
                return _text_key(token.value)
            return self.id_literal(token)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind == "datetime":
            return self.datetime_literal(token)
        return self.date_literal(token)

    def type_mismatch(self, token: _Token, name: str, field_type: str) -> SoqlError:
        quoted = _LITERAL_KINDS.get(field_type) == "string"
        detail = (
            f"value of filter criterion for field '{name}' must be of type "
            f"{_TYPE_NAMES[field_type]} and should {'' if quoted else 'not '}be enclosed in quotes"
        )
        return self.invalid_field(token, detail)

    def id_literal(self, token: _Token) -> str:
        id15 = _id15(token.value)
        if id15 is None:
            raise self.malformed(token, f"invalid ID field: {token.value}")
        return id15

    def datetime_literal(self, token: _Token) -> str:
        value = _canonical_datetime(token.text)
        if value is None:
            raise self.malformed(token, f"invalid dateTime literal: {token.text}")
        return value

    def date_literal(self, token: _Token) -> str:
        try:
            date.fromisoformat(token.text)
        except ValueError:
            raise self.malformed(token, f"invalid date literal: {token.text}") from None
        return token.text


# --- literal normalisation -------------------------------------------------------------------

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_DATETIME_PARTS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,3}))?"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))"
)


def _id15(literal: str) -> str | None:
    """The case-sensitive 15-character Id; an 18-character Id's suffix restores its case."""
    if not (literal.isascii() and literal.isalnum()):
        return None
    if len(literal) == 15:
        return literal
    if len(literal) != 18:
        return None
    suffix = literal[15:].upper()
    chars = []
    for block, code in enumerate(suffix):
        bits = _SUFFIX_ALPHABET.find(code)
        if bits < 0:
            return None
        for i, char in enumerate(literal[block * 5 : block * 5 + 5]):
            chars.append(char.upper() if bits >> i & 1 else char.lower())
    id15 = "".join(chars)
    return id15 if checksum(id15) == suffix else None


def _canonical_datetime(literal: str) -> str | None:
    """A dateTime literal in the stored form, UTC `YYYY-MM-DDTHH:MM:SS.SSS+0000`; None if invalid.

    That form sorts lexicographically in time order, so records compare as plain strings.
    """
    m = _DATETIME_PARTS.fullmatch(literal)
    if m is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in m.group(1, 2, 3, 4, 5, 6))
    millis = int((m.group(7) or "").ljust(3, "0"))
    offset = 0
    if m.group(8):
        off_hours, off_minutes = int(m.group(9)), int(m.group(10))
        if off_hours > 18 or off_minutes > 59:
            return None
        offset = (off_hours * 60 + off_minutes) * (1 if m.group(8) == "+" else -1)
    try:
        utc = datetime(year, month, day, hour, minute, second) - timedelta(minutes=offset)
    except (ValueError, OverflowError):
        return None
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}.{millis:03d}+0000"
    )


def _text_key(value: object) -> object:
    """Text compares case-insensitively (Salesforce upper-cases, English locale); '' is null."""
    return value.upper() if value else None  # type: ignore[union-attr]


def _id_key(value: object) -> object:
    return value[:15] if value else None  # type: ignore[index]


# --- predicate closures ----------------------------------------------------------------------


def _raw(name: str, op: str, values: list[object]) -> Predicate:
    """Numbers, dates and canonical dateTime strings compare as stored: the hot path."""
    if op in ("IN", "NOT_IN"):
        allowed = frozenset(values)
        if op == "IN":
            return lambda r: r.get(name) in allowed
        return lambda r: r.get(name) not in allowed
    literal = values[0]
    if op == "=":
        if literal is None:
            return lambda r: r.get(name) is None
        return lambda r: r.get(name) == literal
    if op == "!=":
        if literal is None:
            return lambda r: r.get(name) is not None
        return lambda r: r.get(name) != literal  # null != literal is true in SOQL
    if op == "<":
        return lambda r: (v := r.get(name)) is not None and v < literal
    if op == "<=":
        return lambda r: (v := r.get(name)) is not None and v <= literal
    if op == ">":
        return lambda r: (v := r.get(name)) is not None and v > literal
    return lambda r: (v := r.get(name)) is not None and v >= literal


def _normalised(
    name: str, op: str, values: list[object], key: Callable[[object], object]
) -> Predicate:
    """Text, Ids and booleans: compare `key(stored value)` with the already-normalised literal."""
    if op in ("IN", "NOT_IN"):
        allowed = frozenset(values)
        if op == "IN":
            return lambda r: key(r.get(name)) in allowed
        return lambda r: key(r.get(name)) not in allowed
    literal = values[0]
    if op == "=":
        return lambda r: key(r.get(name)) == literal
    if op == "!=":
        return lambda r: key(r.get(name)) != literal
    compare = _ORDERING_OPS[op]
    return lambda r: (k := key(r.get(name))) is not None and compare(k, literal)


def _like(name: str, regex: str) -> Predicate:
    fullmatch = re.compile(regex, re.IGNORECASE | re.DOTALL).fullmatch
    return lambda r: bool(v := r.get(name)) and fullmatch(v) is not None  # type: ignore[arg-type]


def _all_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda r: first(r) and second(r)

    def conjunction(record: Record) -> bool:
        return all(predicate(record) for predicate in predicates)

    return conjunction


def _any_of(predicates: list[Predicate]) -> Predicate:
    if len(predicates) == 2:
        first, second = predicates
        return lambda r: first(r) or second(r)

    def disjunction(record: Record) -> bool:
        return any(predicate(record) for predicate in predicates)

    return disjunction
