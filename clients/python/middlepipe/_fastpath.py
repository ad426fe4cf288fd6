"""The agent's shared-memory fast path through libmiddlepipe_client.so (its C ABI,
clients/cpp/fastpath/middlepipe_client.h), loaded with ctypes when it can be found:

    $MP_CLIENT_LIBRARY            an explicit path
    libmiddlepipe_client.so       wherever the dynamic loader looks (ldconfig, LD_LIBRARY_PATH)

Without it every call asks the agent over its socket, with the same verdicts: the
library only decides what the agent published it may decide, and says "ask" otherwise.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import List, Optional, Tuple

ABI_VERSION = 1
_log = logging.getLogger("middlepipe")
NO_CHAIN, CONTINUE, RESPOND, ASK_AGENT = 0, 1, 2, 3
APPLIES_DELAY_AND_DESTINATION = 1


def _lines(text: bytes) -> List[Tuple[str, str]]:
    """"Name: value\\n" lines, as the C ABI gives markers and headers."""
    pairs = []
    for line in text.decode("utf-8", "replace").split("\n"):
        if line:
            name, _, value = line.partition(": ")
            pairs.append((name, value))
    return pairs


def _load(explicit: Optional[str]) -> Optional[ctypes.CDLL]:
    candidates = [explicit] if explicit else []
    found = ctypes.util.find_library("middlepipe_client")
    candidates += [found] if found else []
    candidates.append("libmiddlepipe_client.so")
    for candidate in candidates:
        try:
            library = ctypes.CDLL(candidate)
            version = library.mp_abi_version()
        except (OSError, AttributeError) as error:
            if candidate == explicit:  # asked for by name: worth a line; the socket still works
                _log.warning("middlepipe: cannot use MP_CLIENT_LIBRARY=%s (%s); calls ask the agent "
                             "over its socket", explicit, error)
            continue
        if version != ABI_VERSION:
            _log.warning("middlepipe: %s speaks ABI version %d, this package %d; calls ask the agent "
                         "over its socket", candidate, version, ABI_VERSION)
            continue
        return library
    return None


def _declare(library: ctypes.CDLL) -> bool:
    """Declares the C ABI's signatures; whether the library has mp_on_request_with (and
    so can route and delay in-process)."""
    p, u32, u64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint64
    signatures = {
        "mp_client_open": (p, [ctypes.c_char_p]),
        "mp_client_close": (None, [p]),
        "mp_on_request": (p, [p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]),
        "mp_on_response": (None, [p, p, u32, u64, u64, u64]),
        "mp_call_free": (None, [p]),
        "mp_call_epoch": (u64, [p]),
        "mp_call_markers": (ctypes.c_char_p, [p]),
        "mp_call_status": (u32, [p]),
        "mp_call_raise": (ctypes.c_int, [p]),
        "mp_call_headers": (ctypes.c_char_p, [p]),
        "mp_call_body": (ctypes.POINTER(ctypes.c_char), [p, ctypes.POINTER(ctypes.c_size_t)]),
        "mp_client_dropped": (u64, [p]),
    }
    # Additions to ABI version 1 (an older library lacks them; then chains with a
    # fault-inject or traffic-split ask the socket).
    optional = {
        "mp_on_request_with": (p, [p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]),
        "mp_call_delay_ms": (u32, [p]),
        "mp_call_destination": (ctypes.c_char_p, [p]),
        "mp_call_endpoints": (ctypes.c_char_p, [p]),
    }
    routes = all(hasattr(library, name) for name in optional)
    if routes:
        signatures.update(optional)
    for name, (result, arguments) in signatures.items():
        function = getattr(library, name)
        function.restype = result
        function.argtypes = arguments
    return routes


class Answer:
    """A verdict the fast path reached without the service: the response, or the
    middlepipe's typed error when `raise_error`."""

    def __init__(self, markers, status, raise_error, headers, body) -> None:
        self.markers = markers
        self.status = status
        self.raise_error = raise_error
        self.headers = headers
        self.body = body


class Send:
    """A call the fast path let through: report it with `call`; add `markers` to the
    response; wait `delay_ms` first (an injected fault) and send it to `destination` at
    one of `endpoints` when set (a traffic split)."""

    def __init__(self, call, markers, delay_ms=0, destination="", endpoints=()) -> None:
        self.call = call
        self.markers = markers
        self.delay_ms = delay_ms
        self.destination = destination
        self.endpoints = list(endpoints)


class FastPath:
    """One process's client core. Thread-safe (the library is)."""

    def __init__(self, library: ctypes.CDLL, segment_path: str, routes: bool = False) -> None:
        self._library = library
        self._routes = routes
        self._client = library.mp_client_open(segment_path.encode())
        if not self._client:
            raise MemoryError("mp_client_open")
        self.segment_path = segment_path

    def on_request(self, service: str, headers=()):
        """(action, detail): CONTINUE with a Send, whose call goes to on_response; RESPOND
        with an Answer; NO_CHAIN and ASK_AGENT with None. `headers`: the request's (name,
        value) pairs, which a sticky traffic split reads."""
        action = ctypes.c_int(ASK_AGENT)
        library = self._library
        if self._routes:
            text = "".join(f"{name}: {value}\r\n" for name, value in headers)
            call = library.mp_on_request_with(self._client, service.encode(), text.encode("utf-8", "replace"),
                                              APPLIES_DELAY_AND_DESTINATION, ctypes.byref(action))
        else:
            call = library.mp_on_request(self._client, service.encode(), ctypes.byref(action))
        if action.value == CONTINUE:
            markers = _lines(library.mp_call_markers(call) or b"")
            if not self._routes:
                return CONTINUE, Send(call, markers)
            endpoints = []
            for line in (library.mp_call_endpoints(call) or b"").decode().split("\n"):
                host, _, port = line.rpartition(":")
                if host and port.isdigit():
                    endpoints.append((host, int(port)))
            return CONTINUE, Send(call, markers, library.mp_call_delay_ms(call),
                                  (library.mp_call_destination(call) or b"").decode(), endpoints)
        if action.value == RESPOND:
            try:
                length = ctypes.c_size_t(0)
                body = self._library.mp_call_body(call, ctypes.byref(length))
                return RESPOND, Answer(_lines(self._library.mp_call_markers(call) or b""),
                                       self._library.mp_call_status(call),
                                       bool(self._library.mp_call_raise(call)),
                                       _lines(self._library.mp_call_headers(call) or b""),
                                       ctypes.string_at(body, length.value) if length.value else b"")
            finally:
                self._library.mp_call_free(call)
        return action.value, None

    def on_response(self, call, status: int, latency_us: int, request_bytes: int, response_bytes: int) -> None:
        self._library.mp_on_response(self._client, call, status, latency_us, request_bytes, response_bytes)

    def dropped(self) -> int:
        return self._library.mp_client_dropped(self._client)

    def close(self) -> None:
        if self._client:
            self._library.mp_client_close(self._client)
            self._client = None


def open_fast_path(socket_path: str) -> Optional[FastPath]:
    """The fast path next to the agent at `socket_path` ($MP_AGENT_SHM, else the socket
    path + ".shm", where the agent puts it), or None when the library is not found."""
    library = _load(os.environ.get("MP_CLIENT_LIBRARY"))
    if library is None:
        return None
    routes = _declare(library)
    return FastPath(library, os.environ.get("MP_AGENT_SHM") or socket_path + ".shm", routes)
