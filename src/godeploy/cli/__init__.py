"""The `godeploy` command: the Order API from a shell, and a fake API server to try it on.

The command needs the optional extra (`pip install 'godeploy[cli]'`, which brings typer and
rich). Importing this package does not import them: `main()` does, so that without the extra
the command can still say what to install instead of failing with a traceback.

Exit codes: 0 on success, 1 when the API or the network failed, 2 when the input was refused
(bad usage, an invalid order file, a validation error), 130 when interrupted, 141 when the
reader of stdout went away (`| head -1`: quietly, as a command killed by SIGPIPE).
"""

from __future__ import annotations

import sys

__all__ = ["main"]

_CLI_DEPENDENCIES = frozenset({"typer", "rich", "click"})
_MISSING_EXTRA = "error: the godeploy command needs its extra: pip install 'godeploy[cli]'"


def main() -> None:
    """Run the `godeploy` command (the console script's entry point)."""
    try:
        from godeploy.cli._app import app  # typer and rich: only when run
        from godeploy.cli._errors import run_app
    except ImportError as error:
        if _top_level_module(error.name) not in _CLI_DEPENDENCIES:
            raise
        # A plain print: without the extra, there is no rich console to print with.
        print(_MISSING_EXTRA, file=sys.stderr)
        raise SystemExit(2) from None
    run_app(app, prog_name="godeploy")


def _top_level_module(name: str | None) -> str:
    """The package a failed import belonged to (`rich.table` -> `rich`)."""
    return (name or "").partition(".")[0]
