"""Recursive-descent parser for the SOQL subset; builds :class:`Query` from tokens."""

from __future__ import annotations

from emulators.salesforce._soql_ast import (
    And,
    Comparison,
    DateKeyword,
    Expr,
    InList,
    Like,
    Literal,
    LitKind,
    MalformedQuery,
    Not,
    Or,
    OrderItem,
    Query,
)
from emulators.salesforce._soql_lexer import Token, describe_position, tokenize

__all__ = ["MAX_OFFSET", "parse"]

MAX_OFFSET = 2000
_MAX_DEPTH = 50
_RESERVED = frozenset(
    [
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
        "WHERE",
        "WITH",
    ]
)
_UNSUPPORTED = frozenset(
    ["EXCLUDES", "FOR", "GROUP", "HAVING", "INCLUDES", "TYPEOF", "USING", "WITH"]
)
_COMPARISONS = frozenset(("=", "!=", "<>", "<", "<=", ">", ">="))
_DAY_KEYWORDS = frozenset(("TODAY", "YESTERDAY", "TOMORROW"))
_N_DAY_KEYWORDS = frozenset(("LAST_N_DAYS", "NEXT_N_DAYS"))


def parse(soql: str) -> Query:
    """Parse one SOQL statement; raise MalformedQuery for anything outside the subset."""
    if not isinstance(soql, str):
        raise MalformedQuery("query must be a string")
    return _Parser(soql).query()


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src
        self.tokens = tokenize(src)
        self.index = 0
        self.depth = 0

    # -- token helpers ---------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at_word(self, *words: str, ahead: int = 0) -> bool:
        token = self.peek(ahead)
        return token.kind == "WORD" and token.text.upper() in words

    def at_op(self, *ops: str) -> bool:
        token = self.peek()
        return token.kind == "OP" and token.text in ops

    def error(self, token: Token, hint: str = "") -> MalformedQuery:
        where = describe_position(self.src, token.pos)
        if token.kind == "EOF":
            message = f"unexpected end of query at {where}"
        else:
            message = f"unexpected token '{token.text}' at {where}"
            if token.kind == "WORD" and token.text.upper() in _UNSUPPORTED:
                hint = hint or f"{token.text.upper()} is not supported by this emulator"
        return MalformedQuery(f"{message}: {hint}" if hint else message)

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.error(self.peek(), f"expected {word}")
        return self.advance()

    def expect_op(self, op: str) -> Token:
        if not self.at_op(op):
            raise self.error(self.peek(), f"expected '{op}'")
        return self.advance()

    # -- statement -------------------------------------------------------------------

    def query(self) -> Query:
        self.expect_word("SELECT")
        fields, is_count = self.select_list()
        self.expect_word("FROM")
        sobject = self.identifier("an sObject name")
        if "." in sobject:
            raise MalformedQuery(f"invalid sObject name '{sobject}'")
        where = None
        if self.at_word("WHERE"):
            self.advance()
            where = self.condition()
        order_by: tuple[OrderItem, ...] = ()
        if self.at_word("ORDER"):
            self.advance()
            self.expect_word("BY")
            order_by = self.order_list()
        limit = self.count_clause("LIMIT")
        offset = self.count_clause("OFFSET")
        if offset is not None and offset > MAX_OFFSET:
            raise MalformedQuery(f"maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.peek().kind != "EOF":
            raise self.error(self.peek())
        return Query(fields, sobject, where, order_by, limit, offset, is_count)

    def select_list(self) -> tuple[tuple[str, ...], bool]:
        if self.at_word("COUNT") and self.peek(1).kind == "OP" and self.peek(1).text == "(":
            self.advance()
            self.advance()
            if not self.at_op(")"):
                raise self.error(self.peek(), "only COUNT() without a field is supported")
            self.advance()
            return ("COUNT()",), True
        fields = [self.identifier("a field name")]
        while self.at_op(","):
            self.advance()
            fields.append(self.identifier("a field name"))
        seen: set[str] = set()
        for name in fields:
            if name.lower() in seen:
                raise MalformedQuery(f"duplicate field selected: {name}")
            seen.add(name.lower())
        return tuple(fields), False

    def identifier(self, what: str) -> str:
        token = self.peek()
        if token.kind != "WORD" or token.text.upper() in _RESERVED:
            raise self.error(token, f"expected {what}")
        self.advance()
        return token.text

    def order_list(self) -> tuple[OrderItem, ...]:
        items = [self.order_item()]
        while self.at_op(","):
            self.advance()
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        name = self.identifier("a field name")
        descending = False
        if self.at_word("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = False
        if self.at_word("NULLS"):
            self.advance()
            if not self.at_word("FIRST", "LAST"):
                raise self.error(self.peek(), "expected FIRST or LAST")
            nulls_last = self.advance().text.upper() == "LAST"
        return OrderItem(name, descending, nulls_last)

    def count_clause(self, word: str) -> int | None:
        if not self.at_word(word):
            return None
        self.advance()
        token = self.peek()
        if token.kind != "NUMBER" or not token.text.isdigit():
            raise self.error(token, f"{word} takes a non-negative integer")
        self.advance()
        return int(token.text)

    # -- conditions ------------------------------------------------------------------

    def condition(self) -> Expr:
        """Conditions joined by only AND or only OR; mixing needs parentheses."""
        first = self.unary()
        if not self.at_word("AND", "OR"):
            return first
        joiner = self.peek().text.upper()
        operands = [first]
        while self.at_word("AND", "OR"):
            token = self.advance()
            if token.text.upper() != joiner:
                raise self.error(token, "use parentheses when mixing AND and OR")
            operands.append(self.unary())
        return And(tuple(operands)) if joiner == "AND" else Or(tuple(operands))

    def unary(self) -> Expr:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.error(self.peek(), "condition nested too deeply")
        try:
            if self.at_word("NOT"):
                self.advance()
                return Not(self.unary())
            if self.at_op("("):
                self.advance()
                inner = self.condition()
                self.expect_op(")")
                return inner
            return self.simple()
        finally:
            self.depth -= 1

    def simple(self) -> Expr:
        name = self.identifier("a field name")
        token = self.peek()
        if self.at_word("IN"):
            self.advance()
            return InList(name, self.value_list())
        if self.at_word("NOT") and self.at_word("IN", ahead=1):
            self.advance()
            self.advance()
            return InList(name, self.value_list(), negated=True)
        if self.at_word("LIKE"):
            self.advance()
            pattern = self.literal()
            if pattern.kind is not LitKind.STRING:
                raise self.error(token, "LIKE needs a quoted string pattern")
            return Like(name, pattern)
        if token.kind == "OP" and token.text in _COMPARISONS:
            self.advance()
            value = self.literal()
            op = "!=" if token.text == "<>" else token.text
            if op not in ("=", "!=") and value.kind in (LitKind.NULL, LitKind.BOOLEAN):
                raise self.error(token, f"operator {op} cannot compare with {value.kind.value}")
            return Comparison(name, op, value)
        raise self.error(token, "expected an operator")

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_op("(")
        values = [self.literal()]
        while self.at_op(","):
            self.advance()
            values.append(self.literal())
        self.expect_op(")")
        return tuple(values)

    def literal(self) -> Literal:
        token = self.advance()
        if token.kind == "STRING":
            return Literal(LitKind.STRING, token.value, token.escaped)
        if token.kind == "NUMBER":
            return Literal(LitKind.NUMBER, token.value)
        if token.kind == "DATE":
            return Literal(LitKind.DATE, token.value)
        if token.kind == "DATETIME":
            return Literal(LitKind.DATETIME, token.value)
        if token.kind == "WORD":
            return self.word_literal(token)
        raise self.error(token, "expected a value")

    def word_literal(self, token: Token) -> Literal:
        word = token.text.upper()
        if word in ("TRUE", "FALSE"):
            return Literal(LitKind.BOOLEAN, word == "TRUE")
        if word == "NULL":
            return Literal(LitKind.NULL, None)
        if word in _DAY_KEYWORDS:
            return Literal(LitKind.DATE_KEYWORD, DateKeyword(word))
        if word in _N_DAY_KEYWORDS:
            self.expect_op(":")
            count = self.advance()
            if count.kind != "NUMBER" or not count.text.isdigit():
                raise self.error(count, f"{word} takes a non-negative integer")
            return Literal(LitKind.DATE_KEYWORD, DateKeyword(word, int(count.text)))
        raise self.error(token, "expected a value")
