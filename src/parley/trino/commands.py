"""The statements other than queries that Trino clients send and the endpoint answers itself:
`SHOW CATALOGS / SCHEMAS / TABLES / COLUMNS`, `DESCRIBE`, `USE`, and `EXECUTE IMMEDIATE`
(how the Python client binds parameters). sqlglot reads these as opaque commands, so their
words are read here from its tokens; names and patterns become sqlglot nodes, never text."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.tokens import Token, TokenType

from parley.trino.errors import TrinoError

DIALECT = "trino"


@dataclass(frozen=True)
class Show:
    what: str  # CATALOGS | SCHEMAS | TABLES | COLUMNS
    name: tuple[str, ...]  # the FROM / IN name, its parts
    like: str | None


@dataclass(frozen=True)
class Use:
    catalog: str | None
    schema: str


@dataclass(frozen=True)
class ExecuteImmediate:
    sql: str
    parameters: tuple[exp.Expr, ...]


Command = Show | Use | ExecuteImmediate


def _tokens(text: str) -> list[Token]:
    try:
        return list(sqlglot.tokenize(text, read=DIALECT))
    except SqlglotError as err:
        raise TrinoError("SYNTAX_ERROR", f"cannot read the statement: {err}") from err


def _name(tokens: list[Token]) -> tuple[list[str], list[Token]]:
    """A dotted name at the start of `tokens` (unquoted parts lower-cased, as Trino does) and
    what follows it."""
    parts: list[str] = []
    rest = tokens
    while rest:
        token = rest[0]
        if token.token_type in (TokenType.STRING, TokenType.DOT, TokenType.SEMICOLON):
            break
        if token.token_type is not TokenType.IDENTIFIER and token.text.upper() == "LIKE":
            break
        parts.append(token.text if token.token_type is TokenType.IDENTIFIER else token.text.lower())
        rest = rest[1:]
        if rest and rest[0].token_type is TokenType.DOT:
            rest = rest[1:]
        else:
            break
    return parts, rest


def _show(text: str) -> Show:
    tokens = [t for t in _tokens(text) if t.token_type is not TokenType.SEMICOLON]
    if not tokens:
        raise TrinoError("SYNTAX_ERROR", "SHOW what? (CATALOGS, SCHEMAS, TABLES or COLUMNS)")
    what = tokens[0].text.upper()
    rest = tokens[1:]
    if what not in ("CATALOGS", "SCHEMAS", "TABLES", "COLUMNS"):
        raise TrinoError("NOT_SUPPORTED", f"SHOW {what} is not supported here")
    name: list[str] = []
    if rest and rest[0].text.upper() in ("FROM", "IN"):
        name, rest = _name(rest[1:])
        if not name:
            raise TrinoError("SYNTAX_ERROR", f"SHOW {what} FROM needs a name")
    elif what == "COLUMNS":
        raise TrinoError("SYNTAX_ERROR", "SHOW COLUMNS needs FROM <table>")
    like = None
    if rest and rest[0].text.upper() == "LIKE":
        if len(rest) < 2 or rest[1].token_type is not TokenType.STRING:
            raise TrinoError("SYNTAX_ERROR", "LIKE needs a pattern in quotes")
        like, rest = rest[1].text, rest[2:]
    if rest:
        raise TrinoError("SYNTAX_ERROR", f"unexpected {rest[0].text!r} in SHOW {what}")
    return Show(what, tuple(name), like)


def _describe(tokens: list[Token]) -> Show:
    name, rest = _name(tokens)
    if name and name[0] in ("input", "output") and rest:
        raise TrinoError("NOT_SUPPORTED", f"DESCRIBE {name[0].upper()} is not supported here")
    if not name or [t for t in rest if t.token_type is not TokenType.SEMICOLON]:
        raise TrinoError("SYNTAX_ERROR", "DESCRIBE needs one table name")
    return Show("COLUMNS", tuple(name), None)


def _use(tokens: list[Token]) -> Use:
    name, rest = _name(tokens)
    if not 1 <= len(name) <= 2 or [t for t in rest if t.token_type is not TokenType.SEMICOLON]:
        raise TrinoError("SYNTAX_ERROR", "USE needs a schema or catalog.schema")
    return Use(name[0] if len(name) == 2 else None, name[-1])


def _execute(text: str) -> ExecuteImmediate:
    tokens = _tokens(text)
    if len(tokens) < 2 or tokens[0].text.upper() != "IMMEDIATE":
        raise TrinoError(
            "NOT_SUPPORTED", "prepared statements are not kept here; use EXECUTE IMMEDIATE"
        )
    if tokens[1].token_type is not TokenType.STRING:
        raise TrinoError("SYNTAX_ERROR", "EXECUTE IMMEDIATE needs the statement in quotes")
    sql = tokens[1].text
    rest = tokens[2:]
    if not rest or rest[0].token_type is TokenType.SEMICOLON:
        return ExecuteImmediate(sql, ())
    if rest[0].text.upper() != "USING":
        raise TrinoError("SYNTAX_ERROR", f"unexpected {rest[0].text!r} after the statement")
    values = text[rest[0].end + 1 :].strip().rstrip(";")
    try:
        select = sqlglot.parse_one(f"SELECT {values}", read=DIALECT)
    except SqlglotError as err:
        raise TrinoError("SYNTAX_ERROR", f"cannot read the USING values: {err}") from err
    parameters = tuple(select.expressions) if isinstance(select, exp.Select) else ()
    for value in parameters:
        if not _is_literal(value):
            raise TrinoError(
                "NOT_SUPPORTED", f"a parameter must be a literal value; got {value.sql(DIALECT)}"
            )
    return ExecuteImmediate(sql, parameters)


def _is_literal(node: exp.Expr) -> bool:
    """A literal, NULL, a boolean, a typed literal (DATE '...'), or an array or row of them."""
    if isinstance(node, exp.Literal | exp.Null | exp.Boolean):
        return True
    if isinstance(node, exp.Neg):
        return _is_literal(node.this)
    if isinstance(node, exp.Cast):
        return _is_literal(node.this)
    if isinstance(node, exp.Array | exp.Tuple):
        return all(_is_literal(e) for e in node.expressions)
    return False


def read_command(sql: str) -> Command | None:
    """The statement as one of the commands above, or None for anything else (a query, or a
    statement the SQL guard will refuse)."""
    tokens = _tokens(sql)
    if not tokens:
        return None
    first = tokens[0]
    word = first.text.upper()
    if word == "SHOW":
        return _show(sql[first.end + 1 :])
    if word == "EXECUTE":
        return _execute(sql[first.end + 1 :])
    if word in ("DESCRIBE", "DESC") and first.token_type is not TokenType.IDENTIFIER:
        return _describe(tokens[1:])
    if word == "USE":
        return _use(tokens[1:])
    return None
