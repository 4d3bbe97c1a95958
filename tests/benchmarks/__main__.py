"""`python -m tests.benchmarks [--runs N] [--sections 1,2,4]`: run, print the table, write JSON."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from . import (
    _create_once,
    _decoding,
    _fanout,
    _fleet,
    _memory,
    _page,
    _parallel_pages,
    _telemetry,
    _throughput,
)
from ._harness import BUILD, Cores, pin_cores
from ._report import Row, markdown, write_json

Section = Callable[[Cores, int], list[Row]]
SECTIONS: dict[str, tuple[str, Section]] = {
    "1": ("latency-bound fan-out", _fanout.run),
    "2": ("client overhead and peer (sections 2 and 3)", _throughput.run),
    "4": ("decoding", _decoding.run),
    "5": ("memory", _memory.run),
    "6": ("the fleet: worker processes, the fleet-wide cap", _fleet.run),
    "7": ("telemetry cost", _telemetry.run),
    "8": ("create_once: requests per call, orders made twice", _create_once.run),
    "9": ("pages in parallel: concurrency 1 vs 8", _parallel_pages.run),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks", description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per figure (>= 5)")
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help="which to run: 1,2,4,5,6,7 (2 includes 3)"
    )
    parser.add_argument("--json", type=Path, default=BUILD / "bench.json", help="where to write")
    parser.add_argument(
        "--no-docs", action="store_true", help="leave docs/benchmarks.md as it is (a trial run)"
    )
    return parser


def _progress(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def run_sections(names: list[str], cores: Cores, runs: int) -> tuple[list[Row], dict[str, float]]:
    """Run the chosen sections in order; return their rows and the seconds each took."""
    rows: list[Row] = []
    durations: dict[str, float] = {}
    for name in names:
        title, section = SECTIONS[name]
        _progress(f"section {name}: {title} ...")
        started = time.perf_counter()
        rows += section(cores, runs)
        durations[name] = time.perf_counter() - started
        _progress(f"section {name}: {durations[name]:.0f} s")
    return rows, durations


def _titles(rows: list[Row]) -> dict[str, str]:
    """Each row section's title: its own, or that of the section that measured it (3 is 2's)."""
    titles: dict[str, str] = {}
    title = ""
    for row in rows:
        title = SECTIONS[row.section][0] if row.section in SECTIONS else title
        titles.setdefault(row.section, title)
    return titles


def main() -> int:
    """Run the benchmarks; print the table; write build/bench.json."""
    arguments = _parser().parse_args()
    names = [name.strip() for name in arguments.sections.split(",") if name.strip()]
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or arguments.runs < 1:
        _progress(f"unknown sections {unknown} (choose from {list(SECTIONS)}) or --runs < 1")
        return 2
    cores = pin_cores()
    load = os.getloadavg()[0]  # other work on the machine skews every figure: the page says so
    started = time.perf_counter()
    rows, durations = run_sections(names, cores, arguments.runs)
    total = time.perf_counter() - started
    context = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f'make bench BENCH_ARGS="--runs {arguments.runs} --sections {",".join(names)}"',
        "titles": _titles(rows),
        "runs": arguments.runs,
        "placement": cores.describe(),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load": f"load average {load:.1f} at the start",
        "seconds": {"total": total, **durations},
    }
    sys.stdout.write(markdown(rows) + "\n\n")
    sys.stdout.write(
        f"Median of {arguments.runs} runs (min, max); {cores.describe()}; "
        f"Python {context['python']}, {context['machine']}; {total:.0f} s in all.\n"
    )
    write_json(arguments.json, rows, context)
    sys.stdout.write(f"Figures written to {arguments.json}\n")
    if not arguments.no_docs:
        _page.update(arguments.json)
        sys.stdout.write(f"The docs' page written: {_page.PAGE}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
