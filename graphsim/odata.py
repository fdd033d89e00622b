"""OData query options as Graph's directory accepts them: parsing and the `$filter` subset.

Supported: `$select`, `$top`, `$skiptoken`, `$deltatoken`, `$count`, `$expand` (one level,
optional nested `$select`) and a `$filter` subset - `eq`/`ne`/`ge`/`gt`/`le`/`lt`, `in`,
`startswith()`, `and`/`or`, parentheses and `coll/any(x:x/prop eq v)`. Anything else is the
400 Graph answers, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphsim.errors import BadRequest, UnsupportedQuery

Predicate = Callable[[dict[str, Any]], bool]
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "ge": lambda a, b: a >= b, "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b, "lt": lambda a, b: a < b,
}


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda o: a(o) or b(o)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda o: a(o) and b(o)
KNOWN_OPTIONS = frozenset({"$select", "$top", "$skiptoken", "$deltatoken", "$count", "$expand",
                           "$filter", "$orderby", "$search", "$skip", "$format"})


@dataclass
class Expand:
    nav: str
    select: list[str] | None = None


@dataclass
class Query:
    select: list[str] | None = None
    top: int | None = None
    skiptoken: str | None = None
    deltatoken: str | None = None
    count: bool = False
    expand: list[Expand] = field(default_factory=list)
    filter: str | None = None
    orderby: str | None = None
    search: str | None = None


def parse_query(params: Mapping[str, str]) -> Query:
    query = Query()
    for raw_key, value in params.items():
        key = raw_key if raw_key.startswith("$") else "$" + raw_key
        if key not in KNOWN_OPTIONS:
            if raw_key.startswith("$"):
                raise BadRequest(f"Query option '{raw_key}' is not allowed.")
            continue  # non-OData parameters are ignored, as Graph does
        if key == "$select":
            query.select = _names(value, "$select")
        elif key == "$top":
            query.top = _top(value)
        elif key == "$skiptoken":
            query.skiptoken = value
        elif key == "$deltatoken":
            query.deltatoken = value
        elif key == "$count":
            if value.lower() not in ("true", "false"):
                raise BadRequest(f"Invalid value '{value}' for $count: use true or false.")
            query.count = value.lower() == "true"
        elif key == "$expand":
            query.expand = _expand(value)
        elif key == "$filter":
            query.filter = value
        elif key == "$orderby":
            query.orderby = value
        elif key == "$search":
            query.search = value
        elif key == "$skip":
            raise BadRequest("'$skip' is not supported by this resource; use $skiptoken.",
                             code="Request_UnsupportedQuery")
    return query


def _names(value: str, option: str) -> list[str]:
    names = [part.strip() for part in value.split(",")]
    if not value.strip() or any(not re.fullmatch(r"[A-Za-z_@.][\w.@]*", n) for n in names):
        raise BadRequest(f"Invalid {option} value '{value}'.")
    return names


def _top(value: str) -> int:
    try:
        top = int(value)
    except ValueError:
        raise BadRequest(f"Invalid value '{value}' for $top: an integer is required.") from None
    if top < 1:
        raise BadRequest(f"Invalid page size specified: '{value}'. Must be greater than 0.")
    return top


def _expand(value: str) -> list[Expand]:
    out = []
    for part in _split_top_level(value):
        match = re.fullmatch(r"\s*(\w+)\s*(?:\(\s*\$select\s*=\s*([\w,\s]+)\))?\s*", part)
        if not match:
            raise BadRequest(f"Invalid $expand value '{value}'.")
        select = _names(match.group(2), "$select") if match.group(2) else None
        out.append(Expand(match.group(1), select))
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return parts


# ----- $filter ----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<punct>[(),:])|"
    r"(?P<dt>\d{4}-\d{2}-\d{2}T[\d:.]+Z?)|(?P<num>-?\d+(?:\.\d+)?)|(?P<word>[\w./]+))"
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise BadRequest(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    """Recursive descent over the token list; produces a predicate over an object."""

    def __init__(self, text: str, allowed: frozenset[str], advanced: bool) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.allowed = allowed
        self.advanced = advanced
        self.text = text

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1].lower() != value):
            raise BadRequest(f"Invalid filter clause: '{self.text}'.")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise BadRequest(f"Invalid filter clause: '{self.text}'.")
        return predicate

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (token := self.peek()) and token[1].lower() == "or":
            self.take()
            left = _either(left, self.and_expr())
        return left

    def and_expr(self) -> Predicate:
        left = self.atom()
        while (token := self.peek()) and token[1].lower() == "and":
            self.take()
            left = _both(left, self.atom())
        return left

    def atom(self) -> Predicate:
        token = self.peek()
        if token and token[1] == "(":
            self.take("(")
            inner = self.or_expr()
            self.take(")")
            return inner
        if token and token[1].lower() == "startswith":
            self.take()
            self.take("(")
            prop = self.prop()
            self.take(",")
            prefix = self.literal()
            self.take(")")
            if not isinstance(prefix, str):
                raise BadRequest("startswith needs a string literal.")
            return lambda o: isinstance(o.get(prop), str) and o[prop].lower().startswith(
                prefix.lower()
            )
        path = self.take()[1]
        if (nxt := self.peek()) and nxt[1] == "(" and path.endswith("/any"):
            return self.any_clause(path.removesuffix("/any"))
        return self.comparison(self.check_prop(path))

    def any_clause(self, collection: str) -> Predicate:
        self.take("(")
        var = self.take()[1]
        self.take(":")
        path = self.take()[1]
        if not path.startswith(var + "/"):
            raise BadRequest(f"Invalid lambda expression in filter: '{self.text}'.")
        inner_prop = path.split("/", 1)[1]
        op = self.take()[1].lower()
        value = self.literal()
        self.take(")")
        if op != "eq":
            raise UnsupportedQuery(f"Unsupported operator '{op}' inside any().")
        if collection not in self.allowed:
            raise UnsupportedQuery(
                f"Unsupported or invalid query filter clause for '{collection}'."
            )
        return lambda o: any(
            isinstance(item, dict) and item.get(inner_prop) == value
            for item in (o.get(collection) or [])
        )

    def prop(self) -> str:
        return self.check_prop(self.take()[1])

    def check_prop(self, name: str) -> str:
        if name not in self.allowed:
            raise UnsupportedQuery(
                f"Unsupported or invalid query filter clause specified for property '{name}'."
            )
        return name

    def comparison(self, prop: str) -> Predicate:
        op = self.take()[1].lower()
        if op == "in":
            self.take("(")
            values = [self.literal()]
            while (token := self.peek()) and token[1] == ",":
                self.take(",")
                values.append(self.literal())
            self.take(")")
            folded = {_fold(v) for v in values}
            return lambda o: _fold(o.get(prop)) in folded
        value = self.literal()
        if op == "eq":
            return lambda o: _fold(o.get(prop)) == _fold(value)
        if op == "ne":
            if not self.advanced:
                raise UnsupportedQuery("Operator 'ne' requires ConsistencyLevel: eventual and "
                                       "$count=true.")
            return lambda o: _fold(o.get(prop)) != _fold(value)
        compare = _ORDERING.get(op)
        if compare is None:
            raise BadRequest(f"Invalid filter operator '{op}'.")
        return lambda o: o.get(prop) is not None and compare(_norm_dt(o[prop]), _norm_dt(value))

    def literal(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "dt":
            return text
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if re.fullmatch(r"[0-9a-fA-F-]{36}", text):
            return text
        raise BadRequest(f"Invalid literal '{text}' in filter.")


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _norm_dt(value: Any) -> Any:
    return value.rstrip("Z").split(".")[0] if isinstance(value, str) else value


def compile_filter(text: str, allowed: frozenset[str], *, advanced: bool = False) -> Predicate:
    if not text.strip():
        raise BadRequest("Invalid filter clause: the filter is empty.")
    return _Parser(text, allowed, advanced).parse()
