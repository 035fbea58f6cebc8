"""validate_polyglot_code: every rule's code examples parse in their language."""

from orchestrator.graph import Graph, Step
from tasks.code_examples import check_code_examples

GRAPH = Graph(
    "validate_polyglot_code",
    steps=[Step("parse", check_code_examples)],
    description="Raise invalid_example for code examples that do not parse",
)
