"""How a command ends: one `error: ...` line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

import typer

from godeploy import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GoDeployError,
    InternalServerError,
    NotFoundError,
    OrderOutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestValidationError,
    ServiceUnavailableError,
)
from godeploy.cli._render import STDERR

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_CLOSED_PIPE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CommandError",
    "describe_error",
    "exit_code_of",
    "fail",
    "run_app",
    "run_async",
]

EXIT_API_ERROR = 1
"""The API answered an error, or could not be reached."""
EXIT_USAGE = 2
"""The input was refused: bad usage, an invalid file, a validation error (click uses 2 too)."""
EXIT_INTERRUPTED = 130
"""Ctrl-C, as shells report SIGINT."""
EXIT_CLOSED_PIPE = 128 + signal.SIGPIPE
"""141: the reader of stdout went away (`godeploy orders list --json | head -1`), as shells
report a command ended by SIGPIPE (`yes | head -1`): quietly, and never 1, which says the
API failed."""

# The first match wins, so subclasses come before their bases.
_LABELS: tuple[tuple[type[GoDeployError], str], ...] = (
    (AuthenticationError, "unauthorized"),
    (PermissionDeniedError, "forbidden"),
    (NotFoundError, "not found"),
    (BadRequestError, "refused by the API"),
    (RateLimitError, "rate limited"),
    (ServiceUnavailableError, "service unavailable"),
    (InternalServerError, "server error"),
    (APIStatusError, "API error"),
    (APITimeoutError, "timed out"),
    (APIConnectionError, "cannot reach the API"),
    (RequestValidationError, "invalid input"),
    (OrderOutcomeUnknownError, "order outcome unknown"),
)

_HINTS: dict[type[GoDeployError], str] = {
    AuthenticationError: "check --token or GODEPLOY_TOKEN",
    PermissionDeniedError: "check --business-unit-id or GODEPLOY_BUSINESS_UNIT_ID",
}


class CommandError(Exception):
    """A command that ran but did not fully succeed (its message is the last line)."""

    def __init__(self, message: str, exit_code: int = EXIT_API_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe_error(error: GoDeployError) -> str:
    """One line that says what went wrong, labelled by kind (`not found: GET ... 404`)."""
    label = next((text for kind, text in _LABELS if isinstance(error, kind)), "error")
    message = _one_line(str(error)) or type(error).__name__
    if isinstance(error, RequestValidationError):
        message = _with_field_problems(message, error.errors)
    hint = next((text for kind, text in _HINTS.items() if isinstance(error, kind)), None)
    if hint is not None:
        message = f"{message} ({hint})"
    return f"{label}: {message}"


def _with_field_problems(message: str, errors: dict[str, list[str]]) -> str:
    """Add each field's problems to a message that does not already say them."""
    details = [
        f"{field}: {', '.join(problems)}"
        for field, problems in sorted(errors.items())
        if not all(problem in message for problem in problems)
    ]
    return f"{message}: {'; '.join(details)}" if details else message


def exit_code_of(error: GoDeployError) -> int:
    """2 when the input was at fault (the SDK's checks, the API's 400), else 1."""
    if isinstance(error, RequestValidationError | BadRequestError):
        return EXIT_USAGE
    return EXIT_API_ERROR


def fail(message: str, exit_code: int) -> NoReturn:
    """Print `error: <message>` on stderr, on one line whatever the terminal's width, and exit."""
    STDERR.print(f"error: {_one_line(message)}", soft_wrap=True)
    raise SystemExit(exit_code)


def run_app(app: typer.Typer, *, prog_name: str) -> NoReturn:
    """Run the command line; click's usage errors end like every failure, in one `error:` line.

    Usage errors are click's own (`typer.BadParameter`, `ctx.fail()`, or click's parsing):
    exit code 2, the message, and where to find the help.
    """
    try:
        code = app(prog_name=prog_name, standalone_mode=False)
        # Flushed here, not at exit: a reader that went away is seen while it can be handled.
        sys.stdout.flush()
    except OSError as error:
        if not _reader_went_away(error):
            raise
        _closed_pipe()
    except typer.TyperException as error:  # click's ClickException, as typer vendors it
        # Building a NoArgsIsHelpError printed the help already; it only sets the exit code.
        if type(error).__name__ != "NoArgsIsHelpError":
            fail(_usage_message(error), error.exit_code)
        raise SystemExit(error.exit_code) from None
    except typer.Abort:
        fail("aborted", EXIT_API_ERROR)
    # Without standalone mode, `typer.Exit(n)` and `--help` come back as a return value.
    raise SystemExit(code if isinstance(code, int) else 0)


def _usage_message(error: typer.TyperException) -> str:
    """Click's message, and the command whose help says more."""
    message = error.format_message()
    command_path = getattr(getattr(error, "ctx", None), "command_path", None)
    return f"{message} (see '{command_path} --help')" if command_path else message


def run_async(command: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a command's coroutine; turn every expected failure into one line and an exit code.

    Args:
        command: makes the coroutine (a factory, so nothing is created that is never awaited).
    """
    try:
        asyncio.run(command())
    except CommandError as failure:
        fail(str(failure), failure.exit_code)
    except GoDeployError as error:
        fail(describe_error(error), exit_code_of(error))
    except OSError as error:
        if _reader_went_away(error):
            _closed_pipe()
        # A file that cannot be read, a port already taken: no traceback.
        fail(_describe_os_error(error), EXIT_API_ERROR)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)


def _reader_went_away(error: OSError) -> bool:
    """Whether a failed write means that the reader of stdout went away.

    Through a pipe that is EPIPE. Through a Unix socket (what uvloop and Node give a child for
    its stdout) a reader that closes with bytes unread, while a write waits for room, makes it
    ECONNRESET. The SDK turns a reset of the API's connection into `APIConnectionError`, so a
    bare reset comes from stdout.
    """
    if isinstance(error, BrokenPipeError):
        return True
    return isinstance(error, ConnectionResetError) and _stdout_is_socket()


def _stdout_is_socket() -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError):  # no file behind stdout (closed, or a test's capture)
        return False


def _closed_pipe() -> NoReturn:
    """The reader of stdout went away: stop quietly with 141 (see `EXIT_CLOSED_PIPE`)."""
    # What is still buffered can go nowhere; keep Python from failing again on it at exit.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(EXIT_CLOSED_PIPE) from None


def _describe_os_error(error: OSError) -> str:
    """`strerror: filename`, or the error's text."""
    if error.strerror and error.filename is not None:
        return f"{error.strerror}: {error.filename}"
    return str(error) or type(error).__name__


def _one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(text.split())
