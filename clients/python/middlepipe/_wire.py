"""The hook protocol's wire format (proto/hook.proto): 4-byte big-endian length frames of
protobuf messages, encoded and decoded here for the few messages a hook exchanges.

Why not python3-protobuf's generated code: protoc generates `from proto import
middlepipe_pb2` for hook.proto's import, which an installed package could only ship by
claiming the top-level name `proto`. The hook needs nine small messages; this codec is
checked against protoc's own encoding in the tests and against the real agent end to end.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

MAX_FRAME = 4 * 1024 * 1024

ACTION_CONTINUE = 1
ACTION_RESPOND = 2

Headers = List[Tuple[str, str]]


class WireError(ValueError):
    """Bytes that are not a valid frame or message."""


# --- encoding ---------------------------------------------------------------------------

def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _uint(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value) if value else b""


def _len(number: int, data: bytes, always: bool = False) -> bytes:
    if not data and not always:
        return b""
    return _varint((number << 3) | 2) + _varint(len(data)) + data


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode("utf-8"))


def _headers(number: int, headers: Headers) -> bytes:
    return b"".join(_len(number, _str(1, name) + _str(2, value), always=True) for name, value in headers)


def on_request(request_id: int, service: str, method: str, path: str, headers: Headers) -> bytes:
    """A HookRequest with OnRequest (the body is not sent: no built-in filter needs it)."""
    call = _str(1, service) + _str(2, method) + _str(3, path) + _headers(4, headers)
    return _uint(1, request_id) + _len(2, call, always=True)


def on_response(request_id: int, call_id: int, status: int, latency_us: int, response_bytes: int,
                transport_error: str, no_reply: bool) -> bytes:
    """A HookRequest with OnResponse."""
    outcome = (_uint(1, call_id) + _uint(2, status) + _uint(4, latency_us) + _uint(6, response_bytes)
               + _str(7, transport_error) + _uint(8, 1 if no_reply else 0))
    return _uint(1, request_id) + _len(3, outcome, always=True)


def ping(request_id: int) -> bytes:
    return _uint(1, request_id) + _len(4, b"", always=True)


def frame(message: bytes) -> bytes:
    return struct.pack(">I", len(message)) + message


# --- decoding ---------------------------------------------------------------------------

def _read_varint(data: bytes, pos: int) -> Tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or oversized varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Dict[int, list]:
    """Field number -> values (ints for varints, bytes for length-delimited), in order.
    Fixed-width fields are skipped: none of the hook's messages has one."""
    fields: Dict[int, list] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = _read_varint(data, pos)
        elif wire_type == 2:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise WireError("truncated field")
            value, pos = data[pos:pos + length], pos + length
        elif wire_type == 1:
            pos += 8
            continue
        elif wire_type == 5:
            pos += 4
            continue
        else:
            raise WireError(f"unknown wire type {wire_type}")
        if pos > len(data):
            raise WireError("truncated field")
        fields.setdefault(number, []).append(value)
    return fields


def _one(fields: Dict[int, list], number: int, default):
    values = fields.get(number)
    return values[-1] if values else default


def _text(fields: Dict[int, list], number: int) -> str:
    value = _one(fields, number, b"")
    if not isinstance(value, (bytes, bytearray)):
        raise WireError(f"field {number} is not a string")
    return bytes(value).decode("utf-8", errors="replace")


def _int(fields: Dict[int, list], number: int) -> int:
    value = _one(fields, number, 0)
    if not isinstance(value, int):
        raise WireError(f"field {number} is not a number")
    return value


def _decoded_headers(fields: Dict[int, list], number: int) -> Headers:
    headers = []
    for raw in fields.get(number, []):
        header = _fields(raw)
        headers.append((_text(header, 1), _text(header, 2)))
    return headers


@dataclass
class SynthesizedResponse:
    status: int = 0
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    raise_error: bool = False


@dataclass
class Verdict:
    action: int = ACTION_CONTINUE
    call_id: int = 0
    epoch: int = 0
    set_headers: Headers = field(default_factory=list)
    remove_headers: List[str] = field(default_factory=list)
    destination_service: str = ""
    destination_endpoints: List[Tuple[str, int]] = field(default_factory=list)
    delay_ms: int = 0
    response: SynthesizedResponse = field(default_factory=SynthesizedResponse)
    markers: Headers = field(default_factory=list)
    await_response_markers: bool = False


@dataclass
class Reply:
    """A HookReply: exactly one of verdict, markers, error (or pong) is set."""
    request_id: int = 0
    verdict: Optional[Verdict] = None
    markers: Optional[Headers] = None
    error: Optional[str] = None
    pong: bool = False


def _verdict(data: bytes) -> Verdict:
    f = _fields(data)
    response = SynthesizedResponse()
    if 9 in f:
        r = _fields(_one(f, 9, b""))
        response = SynthesizedResponse(_int(r, 1), _decoded_headers(r, 2), bytes(_one(r, 3, b"")),
                                       bool(_int(r, 4)))
    endpoints = []
    for raw in f.get(7, []):
        e = _fields(raw)
        endpoints.append((_text(e, 1), _int(e, 2)))
    return Verdict(
        action=_int(f, 1) or ACTION_CONTINUE,
        call_id=_int(f, 2),
        epoch=_int(f, 3),
        set_headers=_decoded_headers(f, 4),
        remove_headers=[bytes(v).decode("utf-8", errors="replace") for v in f.get(5, [])],
        destination_service=_text(f, 6),
        destination_endpoints=endpoints,
        delay_ms=_int(f, 8),
        response=response,
        markers=_decoded_headers(f, 10),
        await_response_markers=bool(_int(f, 11)),
    )


def parse_reply(data: bytes) -> Reply:
    """Decodes a HookReply; WireError if the bytes are not one."""
    try:
        f = _fields(data)
        reply = Reply(request_id=_int(f, 1))
        if 2 in f:
            reply.verdict = _verdict(_one(f, 2, b""))
        elif 3 in f:
            reply.markers = _decoded_headers(_fields(_one(f, 3, b"")), 1)
        elif 5 in f:
            reply.error = _text(_fields(_one(f, 5, b"")), 1)
        elif 4 in f:
            reply.pong = True
        return reply
    except (TypeError, AttributeError) as error:  # a field of the wrong wire type
        raise WireError(str(error)) from error
