"""What the SDK reads from the environment: the connection, and the `GODEPLOY_LOG` switch.

The connection is `GODEPLOY_TOKEN`, `GODEPLOY_BUSINESS_UNIT_ID` and `GODEPLOY_BASE_URL`.

The names are the CLI's too: they are stated here, once. An empty variable counts as unset
(as it does for the CLI), and an explicit argument always wins over a variable. A bad value
raises `RequestValidationError` naming its variable, never quoting a token.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

from godeploy._exceptions import RequestValidationError

__all__ = [
    "BASE_URL_VARIABLE",
    "BUSINESS_UNIT_VARIABLE",
    "LOG_VARIABLE",
    "TOKEN_VARIABLE",
    "configure_logging",
    "from_environment",
]

TOKEN_VARIABLE = "GODEPLOY_TOKEN"  # noqa: S105 - the variable's name, not a token
BUSINESS_UNIT_VARIABLE = "GODEPLOY_BUSINESS_UNIT_ID"
BASE_URL_VARIABLE = "GODEPLOY_BASE_URL"
LOG_VARIABLE = "GODEPLOY_LOG"

_LOG_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_logging_lock = threading.Lock()
_logging_done = False


def from_environment(variable: str) -> str | None:
    """The value of a variable, or None when it is unset or empty."""
    return os.environ.get(variable) or None


def configure_logging() -> None:
    """Send the `godeploy` logger to stderr when `GODEPLOY_LOG` says so; once per process.

    Only an application that configured no logging gets the handler: when the `godeploy`
    logger or the root logger already has a handler, the application decides, and nothing is
    changed. Every record the SDK logs is free of tokens, so the handler needs no filter.

    Raises:
        RequestValidationError: `GODEPLOY_LOG` is set to something else than info or debug.
    """
    global _logging_done
    if _logging_done:
        return
    value = from_environment(LOG_VARIABLE)
    if value is None:
        return
    level = _LOG_LEVELS.get(value.strip().lower())
    if level is None:
        raise RequestValidationError(
            f"{LOG_VARIABLE} must be info or debug, got {value!r}",
            {LOG_VARIABLE: ["info or debug"]},
        )
    with _logging_lock:
        if _logging_done:
            return
        _logging_done = True
        logger = logging.getLogger("godeploy")
        if logger.handlers or logging.getLogger().handlers:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        logger.addHandler(handler)
        logger.setLevel(level)
