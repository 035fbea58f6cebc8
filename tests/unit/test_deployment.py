"""The production deployment files: compose schema, service wiring, Dockerfile lint."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]


@pytest.fixture
def compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_compose_specification(
    compose: dict[str, Any], corpus_dir: Path
) -> None:
    """docker-compose.yml validates against the Compose Specification's schema."""
    schema = json.loads((corpus_dir / "compose-spec" / "compose-spec.json").read_text())

    # The schema names draft-07 by an URL form jsonschema does not recognise.
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))

    assert [f"{list(e.path)}: {e.message}" for e in errors] == []


def test_compose_wires_migration_before_api_and_workers(
    compose: dict[str, Any],
) -> None:
    """Postgres and Redis are health-checked; the API and workers wait for migrate."""
    services = compose["services"]

    assert "healthcheck" in services["postgres"]
    assert "healthcheck" in services["redis"]
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("api", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["redis"]["condition"] == "service_healthy"
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2


def test_dockerfile_passes_hadolint() -> None:
    """The Dockerfile has no hadolint finding (slim base, non-root, pinned lock)."""
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = (
        str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    )
    if hadolint is None:
        pytest.fail("hadolint is not installed; `pip install -e '.[dev]'` installs it")

    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    text = (ROOT / "Dockerfile").read_text("utf-8")
    assert "USER 10001:10001" in text
    assert "--require-hashes" in text


def test_compose_schema_check_catches_a_broken_file(
    compose: dict[str, Any], corpus_dir: Path
) -> None:
    """The same check refuses a compose file with a misspelt service key."""
    schema = json.loads((corpus_dir / "compose-spec" / "compose-spec.json").read_text())
    compose["services"]["worker"]["comand"] = ["worker"]

    errors = list(jsonschema.Draft7Validator(schema).iter_errors(compose))

    assert any("comand" in e.message for e in errors)


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    """requirements.lock pins each dependency of pyproject.toml, with hashes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    lock = (ROOT / "requirements.lock").read_text("utf-8")
    pinned = {
        m.group(1).lower().replace("_", "-")
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", lock, re.MULTILINE)
    }
    wanted = {
        re.split(r"[<>=!;\[ ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        for dep in project["dependencies"]
    }
    unhashed = [
        block.split("==")[0]
        for block in re.split(r"\n(?=[A-Za-z0-9_.-]+==)", lock)
        if "==" in block and "--hash=sha256:" not in block
    ]

    assert sorted(wanted - pinned) == []
    assert unhashed == []
