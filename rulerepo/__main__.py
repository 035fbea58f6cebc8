"""``python -m rulerepo``: the CLI."""

from rulerepo.cli import app

app()
