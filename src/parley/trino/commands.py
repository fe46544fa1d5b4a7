"""The statements other than queries that Trino clients send and the endpoint answers itself:
`SHOW CATALOGS / SCHEMAS / TABLES / COLUMNS`, `DESCRIBE`, `USE`, `EXECUTE IMMEDIATE` (how the
Python client binds parameters), `PREPARE` / `EXECUTE ... USING` / `DEALLOCATE PREPARE` (its
`legacy_prepared_statements` mode, and JDBC's), and `SET SESSION` / `RESET SESSION`. sqlglot
reads these as opaque commands, so their words are read here from its tokens; names, patterns
and parameters become sqlglot nodes, never text."""

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


@dataclass(frozen=True)
class Prepare:
    name: str
    sql: str


@dataclass(frozen=True)
class Execute:
    """EXECUTE of a statement prepared in the session (`X-Trino-Prepared-Statement`)."""

    name: str
    parameters: tuple[exp.Expr, ...]


@dataclass(frozen=True)
class Deallocate:
    name: str


@dataclass(frozen=True)
class SetSession:
    name: str
    value: str  # as the session header carries it


@dataclass(frozen=True)
class ResetSession:
    name: str


Command = Show | Use | ExecuteImmediate | Prepare | Execute | Deallocate | SetSession | ResetSession


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


def _statement_name(token: Token | None, what: str) -> str:
    if token is None or token.token_type in (TokenType.STRING, TokenType.SEMICOLON):
        raise TrinoError("SYNTAX_ERROR", f"{what} needs a statement name")
    if token.token_type is TokenType.IDENTIFIER:
        return token.text
    if not token.text.replace("_", "a").isalnum():
        raise TrinoError("SYNTAX_ERROR", f"{token.text!r} is not a statement name")
    return token.text.lower()


def _execute(text: str) -> ExecuteImmediate | Execute:
    tokens = _tokens(text)
    if tokens and tokens[0].text.upper() != "IMMEDIATE":
        name = _statement_name(tokens[0], "EXECUTE")
        return Execute(name, _using(text, tokens[1:], "the statement name"))
    if len(tokens) < 2:
        raise TrinoError("SYNTAX_ERROR", "EXECUTE needs a statement name, or IMMEDIATE '...'")
    if tokens[1].token_type is not TokenType.STRING:
        raise TrinoError("SYNTAX_ERROR", "EXECUTE IMMEDIATE needs the statement in quotes")
    return ExecuteImmediate(tokens[1].text, _using(text, tokens[2:], "the statement"))


def _using(text: str, rest: list[Token], after: str) -> tuple[exp.Expr, ...]:
    """The literal values of `USING a, b, ...` (none without USING)."""
    if not rest or rest[0].token_type is TokenType.SEMICOLON:
        return ()
    if rest[0].text.upper() != "USING":
        raise TrinoError("SYNTAX_ERROR", f"unexpected {rest[0].text!r} after {after}")
    values = text[rest[0].end + 1 :].strip().rstrip(";")
    try:
        select = sqlglot.parse_one(f"SELECT {values}", read=DIALECT)
    except SqlglotError as err:
        raise TrinoError("SYNTAX_ERROR", f"cannot read the USING values: {err}") from err
    parameters = tuple(select.expressions) if isinstance(select, exp.Select) else ()
    extra = [k for k, v in select.args.items() if v and k != "expressions"]
    if not parameters or extra:
        raise TrinoError("SYNTAX_ERROR", "USING needs values separated by commas")
    for value in parameters:
        if not _is_literal(value):
            raise TrinoError(
                "NOT_SUPPORTED", f"a parameter must be a literal value; got {value.sql(DIALECT)}"
            )
    return parameters


def _prepare(text: str) -> Prepare:
    tokens = _tokens(text)
    name = _statement_name(tokens[0] if tokens else None, "PREPARE")
    if len(tokens) < 3 or tokens[1].text.upper() != "FROM":
        raise TrinoError("SYNTAX_ERROR", "PREPARE needs: PREPARE <name> FROM <statement>")
    sql = text[tokens[1].end + 1 :].strip().rstrip(";").strip()
    return Prepare(name, sql)


def _after_word(text: str, word: str, usage: str) -> list[Token]:
    """The tokens after `word`, the first word of `text` (read as text: sqlglot tokenizes
    `PREPARE ...` and `SESSION ...` as one opaque command)."""
    head = text.lstrip()
    if head[: len(word)].upper() != word or head[len(word) : len(word) + 1].isalnum():
        raise TrinoError("SYNTAX_ERROR", f"{usage}")
    return [t for t in _tokens(head[len(word) :]) if t.token_type is not TokenType.SEMICOLON]


def _deallocate(text: str) -> Deallocate:
    usage = "DEALLOCATE needs: DEALLOCATE PREPARE <name>"
    tokens = _after_word(text, "PREPARE", usage)
    if len(tokens) != 1:
        raise TrinoError("SYNTAX_ERROR", usage)
    return Deallocate(_statement_name(tokens[0], "DEALLOCATE PREPARE"))


def _property(tokens: list[Token], what: str) -> tuple[str, list[Token]]:
    name, rest = _name(tokens)
    if len(name) == 2:
        raise TrinoError(
            "INVALID_SESSION_PROPERTY",
            f"Session property '{'.'.join(name)}' does not exist: catalogs here have no "
            "session properties",
        )
    if len(name) != 1:
        raise TrinoError("SYNTAX_ERROR", f"{what} needs one session property name")
    return name[0], rest


def _set_session(tokens: list[Token], text: str) -> SetSession:
    name, rest = _property(tokens, "SET SESSION")
    if not rest or rest[0].token_type is not TokenType.EQ or len(rest) < 2:
        raise TrinoError("SYNTAX_ERROR", "SET SESSION needs: SET SESSION <name> = <value>")
    value = text[rest[0].end + 1 :].strip().rstrip(";")
    try:
        node = sqlglot.parse_one(f"SELECT {value}", read=DIALECT)
    except SqlglotError as err:
        raise TrinoError("SYNTAX_ERROR", f"cannot read the value: {err}") from err
    values = node.expressions if isinstance(node, exp.Select) else []
    if len(values) != 1 or not isinstance(values[0], exp.Literal | exp.Boolean | exp.Neg):
        raise TrinoError("NOT_SUPPORTED", "a session property's value must be a literal")
    literal = values[0]
    if isinstance(literal, exp.Boolean):
        return SetSession(name, "true" if literal.this else "false")
    if isinstance(literal, exp.Neg):
        return SetSession(name, literal.sql(DIALECT))
    return SetSession(name, str(literal.this))


def _reset_session(text: str) -> ResetSession:
    tokens = _after_word(text, "SESSION", "RESET needs: RESET SESSION <name>")
    name, rest = _property(tokens, "RESET SESSION")
    if rest:
        raise TrinoError("SYNTAX_ERROR", f"unexpected {rest[0].text!r} in RESET SESSION")
    return ResetSession(name)


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
    rest = sql[first.end + 1 :]
    if word == "PREPARE":
        return _prepare(rest)
    if word.startswith("DEALLOCATE"):  # tokenized as one command, DEALLOCATE PREPARE
        return _deallocate(sql[first.start + len("DEALLOCATE") :])
    if word == "SET" and len(tokens) > 1 and tokens[1].text.upper() == "SESSION":
        return _set_session(tokens[2:], sql)
    if word.startswith("RESET"):
        return _reset_session(sql[first.start + len("RESET") :])
    if word in ("DESCRIBE", "DESC") and first.token_type is not TokenType.IDENTIFIER:
        return _describe(tokens[1:])
    if word == "USE":
        return _use(tokens[1:])
    return None
