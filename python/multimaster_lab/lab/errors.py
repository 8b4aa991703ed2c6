"""LabError: what every lab operation raises, with a reason a person can act on."""

from __future__ import annotations


class LabError(Exception):
    """A human-readable, one-line reason; `log_tail` holds the relevant log lines, if any."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.log_tail = log_tail

    def __str__(self) -> str:
        if not self.log_tail:
            return self.message
        return f"{self.message}\n{self.log_tail}"
