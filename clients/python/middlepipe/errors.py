"""Typed errors a middlepipe raises instead of a response, when it stops a call and has no
fallback configured. All are `requests` exceptions too, so code that already handles
`requests.RequestException` keeps working."""
from __future__ import annotations

from typing import Optional

import requests


class MiddlepipeError(requests.exceptions.RequestException):
    """A middlepipe stopped the call. `kind`, `middlepipe`, `event` and `detail` come from
    its `Middlepipe-Callback` marker."""

    def __init__(self, kind: str, middlepipe: str, event: str = "", detail: str = "",
                 response: Optional[requests.Response] = None) -> None:
        message = f"{kind} {middlepipe}: {event}" + (f" ({detail})" if detail else "")
        super().__init__(message, response=response)
        self.kind = kind
        self.middlepipe = middlepipe
        self.event = event
        self.detail = detail


class CircuitOpenError(MiddlepipeError, requests.exceptions.ConnectionError):
    """A circuit breaker is open (or half-open with its trials taken): the service was not
    called."""


class RateLimitedError(MiddlepipeError):
    """A rate limit refused the call. `retry_after` is in seconds (None if not given)."""

    def __init__(self, kind: str, middlepipe: str, event: str = "", detail: str = "",
                 response: Optional[requests.Response] = None,
                 retry_after: Optional[float] = None) -> None:
        super().__init__(kind, middlepipe, event, detail, response)
        self.retry_after = retry_after


class FaultInjectedError(MiddlepipeError):
    """A fault-inject middlepipe aborted the call (a rehearsal)."""


def error_for(kind: str, middlepipe: str, event: str, detail: str,
              response: Optional[requests.Response], retry_after: Optional[float]) -> MiddlepipeError:
    """The error class for a kind."""
    if kind == "circuit-breaker":
        return CircuitOpenError(kind, middlepipe, event, detail, response)
    if kind == "rate-limit":
        return RateLimitedError(kind, middlepipe, event, detail, response, retry_after)
    if kind == "fault-inject":
        return FaultInjectedError(kind, middlepipe, event, detail, response)
    return MiddlepipeError(kind, middlepipe, event, detail, response)
