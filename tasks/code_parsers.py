"""Does a code example parse in its declared language? Pure, with real parsers.

Each language is checked by a maintained parser, never by hand-written rules:

===========================  ============================================
``python`` (``py``)          the standard library's :func:`ast.parse`
``json``                     the standard library's :func:`json.loads`
``yaml`` (``yml``)           PyYAML's ``safe_load_all`` (every document)
``javascript`` (``js``)      tree-sitter with the ``tree-sitter-javascript``
                             grammar (ES2023 modules and JSX)
``typescript`` (``ts``),     tree-sitter with the ``tree-sitter-typescript``
``tsx``                      grammars
``sql``                      sqlglot's parser, generic dialect; ``postgresql``
                             (``postgres``), ``mysql`` and ``sqlite`` use
                             that dialect
===========================  ============================================

Language names are matched ignoring case and surrounding spaces. An example in
any other language is reported as such (``unknown_language``), never passed
silently; so is an example whose code is empty. tree-sitter recovers from errors
instead of failing, so its first ``ERROR`` or missing node is reported; sqlglot
parses some dialect-specific syntax only with the right dialect, which is why
the dialect names are accepted.
"""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlglot
import tree_sitter_javascript
import tree_sitter_typescript
import yaml
from sqlglot.errors import ErrorLevel, ParseError
from tree_sitter import Language, Node, Parser


@dataclass(frozen=True)
class ParseProblem:
    """Why an example does not parse: the parser's message and where, if known."""

    message: str
    line: int | None = None
    column: int | None = None
    unknown_language: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "line": self.line,
            "column": self.column,
            "unknown_language": self.unknown_language,
        }


def _python(code: str) -> ParseProblem | None:
    try:
        ast.parse(code)
    except SyntaxError as exc:
        return ParseProblem(str(exc.msg), exc.lineno, exc.offset)
    return None


def _json(code: str) -> ParseProblem | None:
    try:
        json.loads(code)
    except json.JSONDecodeError as exc:
        return ParseProblem(exc.msg, exc.lineno, exc.colno)
    return None


def _yaml(code: str) -> ParseProblem | None:
    try:
        for _ in yaml.safe_load_all(code):
            pass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p)
        return ParseProblem(
            message or str(exc),
            mark.line + 1 if mark else None,
            mark.column + 1 if mark else None,
        )
    except yaml.YAMLError as exc:
        return ParseProblem(str(exc))
    return None


@functools.cache
def _tree_sitter_language(name: str) -> Language:
    grammars: dict[str, Callable[[], object]] = {
        "javascript": tree_sitter_javascript.language,
        "typescript": tree_sitter_typescript.language_typescript,
        "tsx": tree_sitter_typescript.language_tsx,
    }
    return Language(grammars[name]())


def _first_error(root: Node) -> Node | None:
    """The first ``ERROR`` or missing node in document order."""
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            return node
        stack.extend(reversed([c for c in node.children if c.has_error]))
    return None


def _tree_sitter(grammar: str) -> Callable[[str], ParseProblem | None]:
    def check(code: str) -> ParseProblem | None:
        tree = Parser(_tree_sitter_language(grammar)).parse(code.encode())
        if not tree.root_node.has_error:
            return None
        node = _first_error(tree.root_node) or tree.root_node
        row, column = node.start_point
        if node.is_missing:
            message = f"missing {node.type!r}"
        else:
            snippet = (node.text or b"").decode(errors="replace").strip()
            message = f"unexpected {snippet[:40]!r}" if snippet else "syntax error"
        return ParseProblem(message, row + 1, column + 1)

    return check


def _sql(dialect: str | None) -> Callable[[str], ParseProblem | None]:
    def check(code: str) -> ParseProblem | None:
        try:
            sqlglot.parse(code, read=dialect, error_level=ErrorLevel.RAISE)
        except ParseError as exc:
            first = exc.errors[0] if exc.errors else {}
            message = str(first.get("description") or exc)
            return ParseProblem(message, first.get("line"), first.get("col"))
        return None

    return check


PARSERS: Mapping[str, Callable[[str], ParseProblem | None]] = {
    "python": _python,
    "py": _python,
    "json": _json,
    "yaml": _yaml,
    "yml": _yaml,
    "javascript": _tree_sitter("javascript"),
    "js": _tree_sitter("javascript"),
    "typescript": _tree_sitter("typescript"),
    "ts": _tree_sitter("typescript"),
    "tsx": _tree_sitter("tsx"),
    "sql": _sql(None),
    "postgresql": _sql("postgres"),
    "postgres": _sql("postgres"),
    "mysql": _sql("mysql"),
    "sqlite": _sql("sqlite"),
}
"""Each accepted language name (lower case) with its check."""


def check_example(language: object, code: object) -> ParseProblem | None:
    """``None`` when ``code`` parses as ``language``, else what is wrong."""
    if not isinstance(language, str) or not language.strip():
        return ParseProblem("the example names no language", unknown_language=True)
    parse = PARSERS.get(language.strip().lower())
    if parse is None:
        known = ", ".join(sorted(PARSERS))
        message = f"no parser for language {language!r}; known languages: {known}"
        return ParseProblem(message, unknown_language=True)
    if not isinstance(code, str) or not code.strip():
        return ParseProblem("the example has no code")

    return parse(code)
