"""The one error type services raise; the API renders it as {"message", "extra"}."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A business rule refused the operation; nothing was changed.

    `status` is the HTTP status the API answers with: 400 for bad input,
    404 for a row the caller cannot see, 409 for a transition that is not
    allowed now or a concurrent change.
    """

    status = 400

    def __init__(
        self, message: str, extra: dict[str, Any] | None = None, *, status: int | None = None
    ):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        if status is not None:
            self.status = status


class ConflictError(ApplicationError):
    """The row is not in a state that allows this, or changed concurrently."""

    status = 409
