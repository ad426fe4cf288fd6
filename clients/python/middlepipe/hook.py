"""The agent side of a call: OnRequest before it is sent, OnResponse after, over the
agent's Unix socket ($MP_AGENT_SOCKET), exactly as the C++ hook does (DESIGN.md §5).

When the agent cannot be reached the hook lets calls through unfiltered (fail-open),
warns once on the `middlepipe` logger, and tries the agent again after a second.
Thread-safe: each call borrows a connection from a small pool.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from . import _wire

DEFAULT_SOCKET = "/run/middlepipe/agent.sock"
CALLBACK_HEADER = "Middlepipe-Callback"

log = logging.getLogger("middlepipe")


@dataclass(frozen=True)
class CallbackEvent:
    """One `Middlepipe-Callback` marker."""
    kind: str        # e.g. "circuit-breaker"
    middlepipe: str  # e.g. "orders-breaker"
    event: str       # e.g. "open", "half-open", "closed", "limited"
    detail: str = ""


_PARAMETER = re.compile(r'\s*;?\s*([a-z_]+)=("([^"]*)"|[^;]*)')


def parse_callback_marker(value: str) -> Optional[CallbackEvent]:
    """`kind; name="…"; event=…[; detail="…"]` (quoted values may hold ';'), or None."""
    kind, _, rest = value.partition(";")
    kind = kind.strip()
    parameters: Dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        match = _PARAMETER.match(rest, pos)
        if not match or match.end() == pos:
            return None
        parameters[match.group(1)] = match.group(3) if match.group(3) is not None else match.group(2).strip()
        pos = match.end()
    if not kind or not parameters.get("event") or (rest.count('"') % 2):
        return None
    return CallbackEvent(kind, parameters.get("name", ""), parameters["event"], parameters.get("detail", ""))


class Callbacks:
    """Callbacks by event name ("*" for every event)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_event: Dict[str, List[Callable[[CallbackEvent], None]]] = {}

    def on(self, event: str, callback: Callable[[CallbackEvent], None]) -> None:
        with self._lock:
            self._by_event.setdefault(event, []).append(callback)

    def fire(self, marker_value: str) -> None:
        event = parse_callback_marker(marker_value)
        if event is None:
            return
        with self._lock:
            matching = list(self._by_event.get(event.event, [])) + list(self._by_event.get("*", []))
        for callback in matching:  # outside the lock: a callback may register more
            callback(event)


class AgentLink:
    """Connections to one agent; round trips and one-way sends of hook frames."""

    def __init__(self, socket_path: Optional[str] = None, retry_after: float = 1.0,
                 timeout: float = 5.0) -> None:
        self.socket_path = socket_path or os.environ.get("MP_AGENT_SOCKET") or DEFAULT_SOCKET
        self._retry_after = retry_after
        self._timeout = timeout
        self._lock = threading.Lock()
        self._idle: List[socket.socket] = []
        self._retry_at = 0.0
        self._warned = False
        self._next_id = 1

    def next_request_id(self) -> int:
        with self._lock:
            request_id = self._next_id
            self._next_id += 1
            return request_id

    def _borrow(self) -> Optional[socket.socket]:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if time.monotonic() < self._retry_at:
                return None  # recently unreachable: do not delay the call to find out again
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.socket_path)
            # A kernel timeout instead of Python's (which polls before every read): one
            # system call per read, and a hung agent still cannot hang the app.
            seconds = int(self._timeout)
            interval = struct.pack("ll", seconds, int((self._timeout - seconds) * 1e6))
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)
        except OSError as error:
            connection.close()
            self._unreachable(f"cannot connect to {self.socket_path}: {error}")
            return None
        return connection

    def _give_back(self, connection: socket.socket) -> None:
        with self._lock:
            self._idle.append(connection)
            if self._warned:
                self._warned = False
                log.warning("middlepipe: agent at %s reachable again", self.socket_path)

    def _unreachable(self, why: str) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + self._retry_after
            if self._warned:
                return
            self._warned = True
        log.warning("middlepipe: agent unreachable (%s); calls go through unfiltered", why)

    def round_trip(self, request_id: int, message: bytes) -> Optional[_wire.Reply]:
        """Sends a frame and returns the reply with its id; None when the agent is
        unreachable or answered garbage (the call then fails open)."""
        connection = self._borrow()
        if connection is None:
            return None
        try:
            connection.sendall(_wire.frame(message))
            while True:
                reply = _wire.parse_reply(self._read_frame(connection))
                if reply.request_id == request_id:
                    break  # replies to requests abandoned on this connection are skipped
        except (OSError, _wire.WireError) as error:
            connection.close()
            self._unreachable(str(error))
            return None
        self._give_back(connection)
        return reply

    def send_only(self, message: bytes) -> None:
        """Sends a frame that gets no reply (OnResponse with no_reply)."""
        connection = self._borrow()
        if connection is None:
            return
        try:
            connection.sendall(_wire.frame(message))
        except OSError as error:
            connection.close()
            self._unreachable(str(error))
            return
        self._give_back(connection)

    @staticmethod
    def _read_frame(connection: socket.socket) -> bytes:
        # Usually the whole reply comes in one read. Replies are read only on the
        # connection that asked, one request at a time, so nothing may follow one.
        data = bytearray()
        while True:
            if len(data) >= 4:
                (length,) = struct.unpack(">I", data[:4])
                if length > _wire.MAX_FRAME:
                    raise _wire.WireError(f"frame of {length} bytes > {_wire.MAX_FRAME}")
                if len(data) >= 4 + length:
                    break
            chunk = connection.recv(65536)
            if not chunk:
                raise OSError("the agent closed the connection")
            data += chunk
        if len(data) > 4 + length:
            raise _wire.WireError("bytes after the reply: the connection is out of step")
        return bytes(data[4:4 + length])

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
