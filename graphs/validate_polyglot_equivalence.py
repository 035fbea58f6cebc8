"""validate_polyglot_equivalence: translations carry their source's markers."""

from orchestrator.graph import Graph, Step
from tasks.equivalence import check_polyglot_equivalence
from tasks.similarity import score_translation_similarity

GRAPH = Graph(
    "validate_polyglot_equivalence",
    steps=[
        Step("similarity", score_translation_similarity),
        Step("compare", check_polyglot_equivalence),
    ],
    edges=[("similarity", "compare")],
    schedule="0 6 * * 0",
    description=(
        "Raise polyglot_mismatch where a translation's numbers, durations, "
        "placeholders, code, URLs or references differ from its source"
    ),
)
