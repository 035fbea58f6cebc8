"""Model providers: embeddings, drafting and evaluation, chosen by ``LLM_PROVIDER``.

``local`` (the default) works offline and deterministically; ``gemini`` goes
through Google's Gen AI SDK.
"""

from __future__ import annotations

from orchestrator.config import Settings
from tasks.providers.base import (
    ClusterSummary,
    Drafter,
    DraftRule,
    Embedder,
    EvalResult,
    Evaluator,
    Providers,
    RuleText,
    Verdict,
)
from tasks.providers.local import local_providers

__all__ = [
    "ClusterSummary",
    "DraftRule",
    "Drafter",
    "Embedder",
    "EvalResult",
    "Evaluator",
    "Providers",
    "RuleText",
    "Verdict",
    "get_providers",
]


def get_providers(settings: Settings) -> Providers:
    """The providers named by ``settings.llm_provider``.

    Raises:
        NotImplementedError: for ``gemini``, whose providers are not built yet.
        ValueError: for a name that is neither ``local`` nor ``gemini``.
    """
    if settings.llm_provider == "local":
        return local_providers()
    if settings.llm_provider == "gemini":
        msg = (
            "LLM_PROVIDER=gemini: the gemini providers are not built yet: "
            "embedding, drafting and evaluating through google-genai are missing; "
            "unset LLM_PROVIDER to use the local providers"
        )
        raise NotImplementedError(msg)
    msg = f"LLM_PROVIDER={settings.llm_provider!r} is not one of 'local', 'gemini'"
    raise ValueError(msg)
