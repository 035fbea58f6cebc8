"""Code examples checked by real parsers, language by language."""

from __future__ import annotations

import pytest

from tasks.code_examples import example_failures
from tasks.code_parsers import PARSERS, check_example

VALID = {
    "python": (
        'import re\n\nPATTERN = re.compile(r"(?i)secret")\n\n\n'
        "def evaluate(text: str) -> str:\n"
        '    return "deny" if PATTERN.search(text) else "allow"\n'
    ),
    "json": '{\n  "rule_id": "RR-SEC-001",\n  "expected_verdict": "deny"\n}\n',
    "yaml": "rule: RR-SEC-001\nscope: security\nlocales:\n  - en\n---\nrule: RR-SEC-002\n",
    "javascript": (
        "const PATTERN = /secret/i;\n\nexport function evaluate(text) {\n"
        '  return PATTERN.test(text) ? "deny" : "allow";\n}\n'
    ),
    "typescript": (
        "export function evaluate(findings: string[]): 'deny' | 'allow' {\n"
        "  return findings.length > 0 ? 'deny' : 'allow';\n}\n"
    ),
    "tsx": "export const Badge = (p: { id: string }) => <span>{p.id}</span>;\n",
    "sql": (
        "SELECT verdict, count(*) AS evaluations\nFROM evaluations\n"
        "WHERE rule_id = 'RR-SEC-001'\n"
        "  AND created_at >= now() - interval '30 days'\nGROUP BY verdict;\n"
    ),
    "postgresql": "SELECT id FROM rules WHERE examples @> '[]'::jsonb LIMIT 5;",
}

BROKEN = {
    "python": ("def evaluate(text: str) -> str\n    return 'deny'\n", 1),
    "json": ('{\n  "rule_id": "RR-SEC-001",\n}\n', 3),
    "yaml": ("rule: RR-SEC-001\ntags: [draft, review\n", 3),
    "javascript": ("export function evaluate(text) {\n  return text ? 1 : ;\n}\n", 2),
    "typescript": ("let limit: = 5;\n", 1),
    "sql": ("SELECT verdict,\n  count(* AS n\nFROM evaluations;\n", 2),
}


@pytest.mark.parametrize(("language", "code"), sorted(VALID.items()))
def test_check_example_accepts_valid_code(language, code) -> None:
    """A well-formed example in each supported language parses."""
    assert check_example(language, code) is None


@pytest.mark.parametrize(("language", "broken"), sorted(BROKEN.items()))
def test_check_example_reports_the_parsers_message_and_line(language, broken) -> None:
    """A broken example fails with the parser's message and the line it names."""
    code, line = broken

    problem = check_example(language, code)

    assert problem is not None
    assert problem.message
    assert problem.line == line
    assert problem.unknown_language is False


def test_check_example_reports_a_missing_closing_brace() -> None:
    """tree-sitter's missing node is named in the message."""
    problem = check_example("javascript", "function f() {\n  return 1;\n")

    assert problem is not None
    assert problem.message == "missing '}'"


def test_check_example_reports_unknown_languages() -> None:
    """A language without a parser is reported as unknown, not passed."""
    problem = check_example("cobol", "DISPLAY 'HI'.")

    assert problem is not None
    assert problem.unknown_language is True
    assert "cobol" in problem.message
    assert "python" in problem.message


def test_check_example_matches_language_names_loosely() -> None:
    """Case and surrounding spaces of a language name do not matter."""
    assert check_example(" Python ", "x = 1\n") is None
    assert check_example("JS", "let x = 1;") is None


@pytest.mark.parametrize(
    ("language", "code", "message"),
    [
        (None, "x = 1", "the example names no language"),
        ("", "x = 1", "the example names no language"),
        ("python", "   \n", "the example has no code"),
        ("json", None, "the example has no code"),
    ],
)
def test_check_example_refuses_incomplete_examples(language, code, message) -> None:
    """An example without a language or without code is a failure."""
    problem = check_example(language, code)

    assert problem is not None
    assert problem.message == message


def test_every_parser_is_reachable_by_name() -> None:
    """The documented language names all have a parser."""
    assert {"python", "json", "yaml", "javascript", "typescript", "sql"} <= set(PARSERS)


def test_example_failures_lists_index_language_and_position() -> None:
    """Only failing examples are listed, with their index in the rule's list."""
    examples = [
        {"language": "python", "code": "x = 1\n"},
        {"language": "json", "code": "{"},
        {"language": "rust", "code": "fn main() {}"},
        "not an example",
    ]

    failures = example_failures(examples)

    assert [(f["index"], f["language"]) for f in failures] == [
        (1, "json"),
        (2, "rust"),
        (3, None),
    ]
    assert failures[0]["line"] == 1
    assert failures[1]["unknown_language"] is True
