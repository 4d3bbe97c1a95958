"""The printed markdown table, the targets' PASS/MISS and build/bench.json."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._harness import Figure

Format = Callable[[float], str]


def seconds(value: float) -> str:
    """Format seconds."""
    return f"{value:.3f} s"


def times(value: float) -> str:
    """Format a ratio."""
    return f"{value:.2f}×"  # noqa: RUF001 - the multiplication sign is meant


def per_second(value: float) -> str:
    """Format a rate."""
    return f"{value:,.0f}/s"


def microseconds(value: float) -> str:
    """Format seconds as microseconds."""
    return f"{value * 1e6:,.0f} µs"


def mebibytes(value: float) -> str:
    """Format KiB as MiB."""
    return f"{value / 1024:.1f} MiB"


_OPERATORS = {"<=": (operator.le, "≤"), ">=": (operator.ge, "≥")}


@dataclass(frozen=True)
class Target:
    """A goal read from the table (never asserted): the median against a bound."""

    comparison: str  # "<=" or ">="
    bound: float

    def met(self, value: float) -> bool:
        """Whether a median meets it."""
        return bool(_OPERATORS[self.comparison][0](value, self.bound))

    def describe(self, fmt: Format) -> str:
        """The target as the table shows it."""
        return f"{_OPERATORS[self.comparison][1]} {fmt(self.bound)}"


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    section: str
    measure: str
    figure: Figure | None
    fmt: Format = str
    target: Target | None = None
    note: str = ""

    def verdict(self) -> str:
        """PASS or MISS for a row with a target, else empty."""
        if self.target is None or self.figure is None:
            return ""
        return "PASS" if self.target.met(self.figure.median) else "MISS"

    def cells(self) -> list[str]:
        """The row's cells, in the table's column order."""
        if self.figure is None:
            numbers = ["n/a", "", ""]
        else:
            numbers = [self.fmt(self.figure.median), self.fmt(self.figure.low)]
            numbers.append(self.fmt(self.figure.high))
        target = "" if self.target is None else self.target.describe(self.fmt)
        return [self.section, self.measure, *numbers, target, self.verdict(), self.note]

    def as_json(self) -> dict[str, Any]:
        """The row for build/bench.json."""
        return {
            "section": self.section,
            "measure": self.measure,
            "figure": None if self.figure is None else self.figure.as_json(),
            "target": None
            if self.target is None
            else {"comparison": self.target.comparison, "bound": self.target.bound},
            "verdict": self.verdict() or None,
            "note": self.note or None,
            # As the table shows them: the docs' page (_page.py) is written from these.
            "cells": dict(zip(_CELLS, self.cells()[2:6], strict=True)) | {"note": self.note},
        }


HEADER = ["§", "measure", "median", "min", "max", "target", "", "note"]
_CELLS = ("median", "min", "max", "target")


def markdown(rows: Sequence[Row]) -> str:
    """The rows as a markdown table."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, rows: Sequence[Row], context: dict[str, Any]) -> None:
    """Write every figure (with its samples) and the run's context."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**context, "rows": [row.as_json() for row in rows]}
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
