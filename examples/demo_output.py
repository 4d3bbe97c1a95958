"""What the demos share: where they print, and how they say a check did not hold."""

from __future__ import annotations

from rich.console import Console

__all__ = ["DemoFailedError", "Output"]


class DemoFailedError(Exception):
    """The demo ran but something it checks did not hold."""


class Output:
    """Steps, tables and results on stdout; notes and progress bars on stderr."""

    def __init__(self) -> None:
        # Text as it is: API data such as `[b]PO-1` is not rich markup.
        self.stdout = Console(highlight=False, markup=False, emoji=False)
        self.stderr = Console(stderr=True, highlight=False, markup=False, emoji=False)

    def notice(self, text: str) -> None:
        """A note on stderr, never wrapped."""
        self.stderr.print(text, soft_wrap=True)
