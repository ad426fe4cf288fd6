"""middlepipe: the Python client hook. Calls made with `middlepipe.Session()` (a
`requests.Session`) pass through the app's middlepipes; markers become callbacks
(`middlepipe.on`) and typed errors (`CircuitOpenError`, `RateLimitedError`, …)."""
from .errors import CircuitOpenError, FaultInjectedError, MiddlepipeError, RateLimitedError
from .hook import CallbackEvent, Callbacks, parse_callback_marker
from .session import MiddlepipeAdapter, Session, on

__version__ = "0.1.0"

__all__ = [
    "CallbackEvent", "Callbacks", "CircuitOpenError", "FaultInjectedError", "MiddlepipeAdapter",
    "MiddlepipeError", "RateLimitedError", "Session", "on", "parse_callback_marker",
]
