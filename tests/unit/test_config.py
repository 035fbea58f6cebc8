"""Settings from the environment: bad values are refused with their names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from orchestrator.config import Settings


def test_settings_unknown_time_zone_is_refused() -> None:
    """SCHEDULE_TIMEZONE must be an IANA zone; the error names the value."""
    with pytest.raises(ValidationError, match="Mars/Olympus"):
        Settings(schedule_timezone="Mars/Olympus")


def test_settings_unknown_llm_provider_is_refused() -> None:
    """LLM_PROVIDER accepts only 'local' and 'gemini'."""
    with pytest.raises(ValidationError, match="'local', 'gemini'"):
        Settings(llm_provider="openai")


@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_settings_worker_concurrency_must_be_a_positive_integer(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """WORKER_CONCURRENCY from the environment must be a positive integer."""
    monkeypatch.setenv("WORKER_CONCURRENCY", value)

    with pytest.raises(ValidationError, match="worker_concurrency"):
        Settings()


def test_settings_secrets_are_not_shown() -> None:
    """API_TOKEN and GEMINI_API_KEY never appear in the settings' text form."""
    settings = Settings(api_token="s3cret-token", gemini_api_key="g-key-123")

    shown = repr(settings) + str(settings.model_dump())

    assert "s3cret-token" not in shown
    assert "g-key-123" not in shown
