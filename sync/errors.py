"""Errors that cross the engine's ports.

Tree::

    RehearseError
    └── ErpFailure               any failed ERP call
        ├── ErpError             the ERP answered with an error status and code (4xx, 5xx)
        ├── ErpConnectError      the request never reached the ERP: nothing was applied
        └── ErpTimeout           no answer in time: the request may or may not have been applied

Every class is constructible from its own ``args`` (SimPy re-raises failed events as
``type(e)(*e.args)``), so all constructor arguments are positional and passed to ``super()``.
"""

from __future__ import annotations


class RehearseError(Exception):
    """Base of every error rehearse raises on purpose."""


class ErpFailure(RehearseError):
    """Any failed ERP call."""


class ErpError(ErpFailure):
    """The ERP answered with an error: an HTTP status, an ERP error code and maybe Retry-After."""

    def __init__(
        self, status: int, code: str, message: str = "", retry_after_s: float | None = None
    ) -> None:
        super().__init__(status, code, message, retry_after_s)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def __str__(self) -> str:
        return f"ERP {self.status} {self.code}: {self.message}"


class ErpConnectError(ErpFailure):
    """The connection failed before the request was sent: the ERP applied nothing."""


class ErpTimeout(ErpFailure):
    """The request was sent but no answer came: the outcome is unknown."""
