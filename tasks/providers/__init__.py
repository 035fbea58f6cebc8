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

    ``gemini`` needs ``settings.gemini_api_key`` (``GEMINI_API_KEY``) and the
    ``google-genai`` package, which is imported only then.

    Raises:
        ValueError: for ``gemini`` without ``GEMINI_API_KEY``, or for a name that
            is neither ``local`` nor ``gemini``.
    """
    if settings.llm_provider == "local":
        return local_providers()
    if settings.llm_provider == "gemini":
        from tasks.providers.gemini import gemini_providers

        return gemini_providers(settings.gemini_api_key)
    msg = f"LLM_PROVIDER={settings.llm_provider!r} is not one of 'local', 'gemini'"
    raise ValueError(msg)
