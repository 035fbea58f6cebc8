"""The README's bad-input table names tests that exist and pass."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _rows() -> list[str]:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Bad input", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`(tests/[^`]+::[^`]+)`", section)


def test_readme_bad_input_rows_name_tests_that_exist_and_pass() -> None:
    """Every row of the table names a test function that exists and passes."""
    node_ids = _rows()
    assert len(node_ids) >= 20
    for node_id in node_ids:
        path, name = node_id.split("::")
        source = (ROOT / path).read_text("utf-8")
        assert re.search(rf"^(async )?def {name}\(", source, re.MULTILINE), node_id

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *node_ids],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:]
    assert " failed" not in result.stdout.splitlines()[-1]
