"""A stand-in agent on a temporary Unix socket: answers each hook frame with what the
test scripted, and records what it got."""
from __future__ import annotations

import os
import socket
import struct
import tempfile
import threading
from typing import Callable, List, Optional

from middlepipe import _wire


def header(number: int, name: str, value: str) -> bytes:
    return _wire._len(number, _wire._str(1, name) + _wire._str(2, value), always=True)


def verdict_reply(request_id: int, *, action: int = _wire.ACTION_CONTINUE, call_id: int = 0,
                  markers=(), response: Optional[bytes] = None, destination: str = "",
                  endpoints=(), await_markers: bool = False, delay_ms: int = 0) -> bytes:
    verdict = (_wire._uint(1, action) + _wire._uint(2, call_id) + _wire._uint(3, 1)
               + _wire._str(6, destination)
               + b"".join(_wire._len(7, _wire._str(1, h) + _wire._uint(2, p), always=True) for h, p in endpoints)
               + _wire._uint(8, delay_ms)
               + (_wire._len(9, response, always=True) if response is not None else b"")
               + b"".join(header(10, n, v) for n, v in markers) + _wire._uint(11, 1 if await_markers else 0))
    return _wire._uint(1, request_id) + _wire._len(2, verdict, always=True)


def synthesized(status: int, headers=(), body: bytes = b"", raise_error: bool = False) -> bytes:
    return (_wire._uint(1, status) + b"".join(header(2, n, v) for n, v in headers) + _wire._len(3, body)
            + _wire._uint(4, 1 if raise_error else 0))


def markers_reply(request_id: int, markers=()) -> bytes:
    return _wire._uint(1, request_id) + _wire._len(3, b"".join(header(1, n, v) for n, v in markers), always=True)


class FakeAgent:
    """`answer(fields)` gets each request's decoded fields and returns the reply bytes (or
    None for no reply)."""

    def __init__(self, answer: Callable[[dict], Optional[bytes]]) -> None:
        self.directory = tempfile.mkdtemp(prefix="mp-fake-agent-", dir="/tmp")  # short: Unix socket paths
        self.path = os.path.join(self.directory, "agent.sock")
        self.received: List[dict] = []
        self._answer = answer
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(self.path)
        self._server.listen(16)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            while True:
                head = connection.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                (length,) = struct.unpack(">I", head)
                fields = _wire._fields(connection.recv(length, socket.MSG_WAITALL))
                self.received.append(fields)
                reply = self._answer(fields)
                if reply is not None:
                    # b"RAW:" + bytes goes out as is (for malformed frames), else framed.
                    connection.sendall(reply[4:] if reply.startswith(b"RAW:") else _wire.frame(reply))

    def close(self) -> None:
        self._server.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass
