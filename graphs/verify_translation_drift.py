"""verify_translation_drift: translations made from an older source, or unlike it."""

from orchestrator.graph import Graph, Step
from tasks.similarity import score_translation_similarity
from tasks.translation_drift import flag_translation_drift

GRAPH = Graph(
    "verify_translation_drift",
    steps=[
        Step("similarity", score_translation_similarity),
        Step("flag", flag_translation_drift),
    ],
    edges=[("similarity", "flag")],
    schedule="30 3 * * *",
    description=(
        "Raise locale_drift for translations of an older source version or, with a "
        "cross-lingual embedder, below 0.75 similarity"
    ),
)
