"""Code examples attached to rules, a few deliberately broken."""

import json
from collections.abc import Callable
from random import Random
from typing import Any

from tasks.sample.plans import RulePlan


def _python_example(plan: RulePlan) -> str:
    rule_id, pattern = plan.rule_id, plan.template.pattern
    if plan.has_pattern and pattern is not None:
        return (
            f'import re\n\nRULE_ID = "{rule_id}"\nPATTERN = re.compile(r"{pattern}")\n'
            f'\n\ndef evaluate(text: str) -> str:\n    """Return the verdict of {rule_id}'
            ' for one input."""\n    return "deny" if PATTERN.search(text) else "allow"\n'
        )
    return (
        f'RULE_ID = "{rule_id}"\n\n\ndef evaluate(findings: list[str]) -> str:\n'
        f'    """Return the verdict of {rule_id} from a reviewer\'s findings."""\n'
        '    return "deny" if findings else "allow"\n'
    )


def _javascript_example(plan: RulePlan) -> str:
    pattern = plan.template.pattern
    if plan.has_pattern and pattern is not None:
        literal = pattern.removeprefix("(?i)").replace("/", r"\/")
        return (
            f"const PATTERN = /{literal}/i;\n\nexport function evaluate(text) {{\n"
            '  return PATTERN.test(text) ? "deny" : "allow";\n}\n'
        )
    return (
        f'export const RULE_ID = "{plan.rule_id}";\n\n'
        "export function evaluate(findings) {\n"
        '  return findings.length > 0 ? "deny" : "allow";\n}\n'
    )


def _json_example(plan: RulePlan) -> str:
    case: dict[str, Any] = {"rule_id": plan.rule_id}
    if plan.has_pattern:
        case |= {"input": plan.template.deny_inputs[0], "expected_verdict": "deny"}
    else:
        case |= {"scope": plan.scope.name, "effect": plan.template.effect}
    return json.dumps(case, indent=2, ensure_ascii=False) + "\n"


def _yaml_example(plan: RulePlan) -> str:
    return (
        f"rule: {plan.rule_id}\nscope: {plan.scope.name}\n"
        f"effect: {plan.template.effect}\nmaturity: {plan.maturity}\n"
        f"locales:\n  - {plan.locale}\n"
    )


def _sql_example(plan: RulePlan) -> str:
    return (
        "SELECT verdict, count(*) AS evaluations\nFROM evaluations\n"
        f"WHERE rule_id = '{plan.rule_id}'\n"
        "  AND created_at >= now() - interval '30 days'\nGROUP BY verdict;\n"
    )


_EXAMPLE_WRITERS: dict[str, Callable[[RulePlan], str]] = {
    "python": _python_example,
    "javascript": _javascript_example,
    "json": _json_example,
    "yaml": _yaml_example,
    "sql": _sql_example,
}
_EXAMPLE_BREAKERS: dict[str, Callable[[str], str]] = {
    "python": lambda code: code.replace(") -> str:", ") -> str", 1),
    "javascript": lambda code: code.rstrip().removesuffix("}"),
    "json": lambda code: code.replace("\n}", ",\n}"),
    "yaml": lambda code: code + "tags: [draft, review\n",
    "sql": lambda code: code.replace("count(*)", "count(*", 1),
}


def draw_examples(plan: RulePlan, rng: Random, broken: bool) -> list[dict[str, str]]:
    """Draw up to three code examples for a rule; one is broken if ``broken``."""
    count = rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]
    languages = rng.sample(sorted(_EXAMPLE_WRITERS), max(count, 1) if broken else count)
    examples = [
        {"language": lang, "code": _EXAMPLE_WRITERS[lang](plan)} for lang in languages
    ]
    if broken:
        example = rng.choice(examples)
        example["code"] = _EXAMPLE_BREAKERS[example["language"]](example["code"])

    return examples
