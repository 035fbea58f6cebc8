"""Alembic migrations of the engine's and the domain's tables."""
