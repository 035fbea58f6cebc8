"""Argument types for the benchmark scripts: a bad value is refused by name."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer of at least 1 (a count or a size)."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        msg = f"{text!r} is not a whole number"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"{value} is not a positive number (1 or more)"
        raise argparse.ArgumentTypeError(msg)

    return value


def fraction(text: str) -> float:
    """A number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        msg = f"{text!r} is not a number"
        raise argparse.ArgumentTypeError(msg) from None
    if not 0.0 <= value <= 1.0:
        msg = f"{value:g} is not between 0 and 1"
        raise argparse.ArgumentTypeError(msg)

    return value


def script_parser(doc: str | None) -> argparse.ArgumentParser:
    """A script's parser: its docstring's first line, defaults shown in --help."""
    return argparse.ArgumentParser(
        description=doc.splitlines()[0] if doc else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
