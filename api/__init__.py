"""The status API: run history, retries, schedules and the domain actions."""

from api.app import create_app

__all__ = ["create_app"]
