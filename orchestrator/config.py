"""Configuration read from the environment (pydantic-settings).

Every setting is an environment variable of the same name in upper case. With
``DATABASE_URL`` and ``REDIS_URL`` unset, the CLI starts the embedded servers
(see :mod:`rulerepo.services`) and fills them in.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """The environment of one process: servers, secrets and engine tuning."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    database_url: str | None = None
    redis_url: str | None = None
    api_token: SecretStr | None = None
    # Also require API_TOKEN on read-only requests (writes always need it).
    api_read_token_required: bool = False
    schedule_timezone: str = "UTC"
    llm_provider: str = "local"
    gemini_api_key: SecretStr | None = None
    digest_webhook_url: str | None = None
    alert_webhook_url: str | None = None
    otel_exporter_otlp_endpoint: str | None = None
    rulerepo_data_dir: Path = Field(default=Path("~/.rulerepo"))
    queue_name: str = "rulerepo:queue"
    worker_concurrency: int = Field(default=10, ge=1, le=1000)
    sweep_interval_s: float = Field(default=5.0, gt=0)
    lost_grace_s: float = Field(default=30.0, gt=0)
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    run_history_days: int = Field(default=90, ge=1)
    catchup_window_h: float = Field(default=24.0, ge=0)
    # A worker serves Prometheus metrics on this port (0: any free one); unset: off.
    metrics_port: int | None = Field(default=None, ge=0, le=65535)

    @field_validator("schedule_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            msg = f"SCHEDULE_TIMEZONE={value!r} is not a known IANA time zone"
            raise ValueError(msg) from exc
        return value

    @field_validator("llm_provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        if value not in {"local", "gemini"}:
            msg = f"LLM_PROVIDER={value!r} is not one of 'local', 'gemini'"
            raise ValueError(msg)
        return value

    @property
    def lost_grace(self) -> timedelta:
        return timedelta(seconds=self.lost_grace_s)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
