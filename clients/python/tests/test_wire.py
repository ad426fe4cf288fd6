"""The hand-written codec against protoc's own encoding of the same messages."""
import os
import shutil
import subprocess

import pytest

from middlepipe import _wire

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PROTOC = shutil.which("protoc") or "/usr/bin/protoc"


def protoc_encode(message: str, text: str) -> bytes:
    return subprocess.run([PROTOC, "-I", REPO, f"--encode=middlepipe.v1.{message}", "proto/hook.proto"],
                          input=text.encode(), capture_output=True, check=True, cwd=REPO).stdout


def test_requests_encode_as_protoc_does():
    assert _wire.on_request(5, "orders", "GET", "/orders?x=1", [("Accept", "*/*")]) == protoc_encode(
        "HookRequest",
        'request_id: 5 on_request { service: "orders" method: "GET" path: "/orders?x=1" '
        'headers { name: "Accept" value: "*/*" } }')
    assert _wire.on_response(6, 9, 503, 1234, 20, "", True) == protoc_encode(
        "HookRequest", "request_id: 6 on_response { call_id: 9 status: 503 latency_us: 1234 "
                       "response_bytes: 20 no_reply: true }")


def test_replies_decode_what_protoc_encodes():
    reply = _wire.parse_reply(protoc_encode("HookReply", """
        request_id: 11
        verdict { action: ACTION_RESPOND call_id: 3 epoch: 4
                  set_headers { name: "X-A" value: "1" } remove_headers: "X-B"
                  destination_service: "orders-v2"
                  destination_endpoints { host: "198.18.0.9" port: 8080 } delay_ms: 40
                  response { status: 503 headers { name: "H" value: "v" } body: "down" raise: true }
                  markers { name: "Middlepipe-Epoch" value: "4" } await_response_markers: true }"""))
    v = reply.verdict
    assert reply.request_id == 11
    assert (v.action, v.call_id, v.epoch, v.delay_ms) == (_wire.ACTION_RESPOND, 3, 4, 40)
    assert v.set_headers == [("X-A", "1")] and v.remove_headers == ["X-B"]
    assert v.destination_service == "orders-v2" and v.destination_endpoints == [("198.18.0.9", 8080)]
    assert (v.response.status, v.response.headers, v.response.body, v.response.raise_error) == (
        503, [("H", "v")], b"down", True)
    assert v.markers == [("Middlepipe-Epoch", "4")] and v.await_response_markers
    markers = _wire.parse_reply(protoc_encode("HookReply", 'request_id: 2 markers { markers { name: "a" value: "b" } }'))
    assert markers.markers == [("a", "b")]
    assert _wire.parse_reply(protoc_encode("HookReply", 'request_id: 3 error { message: "no" }')).error == "no"


@pytest.mark.parametrize("garbage", [b"\xff", b"\x0a\x05ab", b"\x0f", b"\x12\x02\x0a\xff"])
def test_garbage_is_a_wire_error_not_a_crash(garbage):
    with pytest.raises(_wire.WireError):
        _wire.parse_reply(garbage)
