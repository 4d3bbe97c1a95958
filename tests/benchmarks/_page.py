"""The docs' benchmarks page, written from build/bench.json: figures are never copied by hand.

`make bench` calls `update()` after each run: the sections that run measured replace their
earlier figures in docs/benchmarks.json (the page's source, with the date, runs and machine of
each section), and docs/benchmarks.md is rendered from it. A section not run keeps its last
figures and its own date. `python -m tests.benchmarks._page [build/bench.json]` does the same
from a bench.json already written. tests/test_docs.py checks that the committed page is exactly
what `render()` makes of the committed docs/benchmarks.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent.parent
STORE = ROOT / "docs" / "benchmarks.json"
PAGE = ROOT / "docs" / "benchmarks.md"
# What a section keeps of its run, besides its rows.
_CONTEXT = ("date", "command", "runs", "python", "machine", "load", "placement")
_HEADER = ["measure", "median", "min", "max", "target", "", "note"]


def update(bench_json: Path, store: Path = STORE, page: Path = PAGE) -> None:
    """Fold one run's figures into the page's source, then write the page."""
    run = json.loads(bench_json.read_text(encoding="utf-8"))
    stored = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {"sections": {}}
    sections: dict[str, Any] = stored["sections"]
    measured: set[str] = set()
    for row in run["rows"]:
        section = sections.setdefault(row["section"], {})
        if row["section"] not in measured:  # this run's first row of it: its old rows go
            measured.add(row["section"])
            section.clear()
            section.update({key: run.get(key) for key in _CONTEXT})
            section["title"] = run.get("titles", {}).get(row["section"], "")
            section["rows"] = []
        section["rows"].append({key: row.get(key) for key in ("measure", "cells", "verdict")})
    stored["sections"] = dict(sorted(sections.items(), key=lambda item: _section_key(item[0])))
    store.write_text(json.dumps(stored, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    page.write_text(render(stored), encoding="utf-8")


def _section_key(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (10**6, name)


def render(stored: dict[str, Any]) -> str:
    """The page, in markdown, from the page's source."""
    lines = [
        "# Benchmarks",
        "",
        "<!-- Written by `make bench` (tests/benchmarks/_page.py) from build/bench.json:",
        "     do not edit; rerun the benchmarks instead. -->",
        "",
        "`make bench` runs the benchmarks (their method is in `tests/benchmarks/__init__.py`)",
        "and writes this page from their results: each section below shows the latest run",
        "that measured it, with its date and machine. Every figure is the median of the runs",
        "(min, max); targets are read from the table, never asserted.",
        "",
        "```sh",
        "make bench                                        # every section, 5 runs each",
        'make bench BENCH_ARGS="--runs 7 --sections 2,4"   # more runs, fewer sections',
        "```",
    ]
    for name, section in stored["sections"].items():
        title = f": {section['title']}" if section.get("title") else ""
        runs = section.get("runs")
        lines += [
            "",
            f"## § {name}{title}",
            "",
            f"Finished {section.get('date')} (`{section.get('command')}`, {runs} "
            f"run{'s' if runs != 1 else ''}); Python {section.get('python')}, "
            f"{section.get('machine')}, {section.get('load')}; {section.get('placement')}.",
            "",
            "| " + " | ".join(_HEADER) + " |",
            "|" + "|".join("---" for _ in _HEADER) + "|",
        ]
        for row in section["rows"]:
            cells = row.get("cells") or {}
            values = [cells.get(key, "") for key in ("median", "min", "max", "target")]
            note = cells.get("note", "")
            lines.append(
                "| " + " | ".join([row["measure"], *values, row.get("verdict") or "", note]) + " |"
            )
    return "\n".join(lines) + "\n"


def main() -> int:
    """`python -m tests.benchmarks._page [build/bench.json]`: rewrite the page from a run."""
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "bench.json"
    update(source)
    sys.stdout.write(f"{PAGE.relative_to(ROOT)} written from {source}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
