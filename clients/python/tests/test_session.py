"""The hook against a fake agent: verdicts become responses, errors and callbacks; a
missing or broken agent fails open."""
import http.server
import logging
import threading
import time

import pytest
import requests

import middlepipe
from middlepipe import _wire
from fake_agent import FakeAgent, markers_reply, synthesized, verdict_reply

OPEN = 'circuit-breaker; name="orders-breaker"; event=open; detail="60% of 10 calls failed"'


class Service:
    """A local HTTP service counting its calls."""

    def __init__(self, status: int = 200) -> None:
        self.calls = 0
        service = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 (http.server's name)
                service.calls += 1
                body = b'{"orders":[]}'
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str = "/orders") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
def service():
    s = Service()
    yield s
    s.server.shutdown()


def session_for(agent: FakeAgent, service: Service, callbacks=None) -> middlepipe.Session:
    return middlepipe.Session(services={f"127.0.0.1:{service.port}": "orders"}, socket_path=agent.path,
                              callbacks=callbacks if callbacks is not None else middlepipe.Callbacks())


def test_continue_sends_the_call_and_adds_the_markers(service):
    def answer(fields):
        if 2 in fields:
            call = _wire._fields(fields[2][0])
            assert _wire._text(call, 1) == "orders"
            assert _wire._text(call, 3) == "/orders?x=1"
            return verdict_reply(fields[1][0], call_id=7, markers=[("Middlepipe-Epoch", "3")])
        return None  # OnResponse with no_reply

    agent = FakeAgent(answer)
    response = session_for(agent, service).get(service.url("/orders?x=1"))
    assert response.status_code == 200
    assert response.headers["Middlepipe-Epoch"] == "3"
    assert service.calls == 1
    deadline = time.monotonic() + 5
    while len(agent.received) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # OnResponse goes without waiting for the agent
    assert len(agent.received) == 2, "OnResponse reaches the agent"
    outcome = _wire._fields(agent.received[-1][3][0])
    assert _wire._int(outcome, 1) == 7 and _wire._int(outcome, 2) == 200
    assert _wire._int(outcome, 8) == 1, "no markers can come back: the hook does not wait"
    agent.close()


def test_an_open_breaker_raises_circuit_open_and_fires_the_callback(service):
    agent = FakeAgent(lambda f: verdict_reply(
        f[1][0], action=_wire.ACTION_RESPOND, markers=[("Middlepipe-Callback", OPEN)],
        response=synthesized(503, [("Middlepipe-Callback", OPEN)], raise_error=True)))
    callbacks = middlepipe.Callbacks()
    opened = []
    callbacks.on("open", opened.append)
    with pytest.raises(middlepipe.CircuitOpenError) as raised:
        session_for(agent, service, callbacks).get(service.url())
    assert raised.value.middlepipe == "orders-breaker"
    assert raised.value.detail == "60% of 10 calls failed"
    assert isinstance(raised.value, requests.exceptions.ConnectionError)
    assert isinstance(raised.value, middlepipe.MiddlepipeError)
    assert [e.event for e in opened] == ["open"]
    assert service.calls == 0, "an open breaker does not reach the service"
    agent.close()


def test_a_configured_fallback_is_the_response(service):
    agent = FakeAgent(lambda f: verdict_reply(
        f[1][0], action=_wire.ACTION_RESPOND,
        response=synthesized(200, [("Content-Type", "application/json")], b'{"orders":"cached"}')))
    response = session_for(agent, service).get(service.url())
    assert response.status_code == 200
    assert response.json() == {"orders": "cached"}
    assert service.calls == 0
    agent.close()


def test_a_rate_limit_raises_with_retry_after(service):
    limited = 'rate-limit; name="orders-limit"; event=limited'
    agent = FakeAgent(lambda f: verdict_reply(
        f[1][0], action=_wire.ACTION_RESPOND, markers=[("Middlepipe-Callback", limited)],
        response=synthesized(429, [("Retry-After", "2")], raise_error=True)))
    with pytest.raises(middlepipe.RateLimitedError) as raised:
        session_for(agent, service).get(service.url())
    assert raised.value.retry_after == 2.0
    assert raised.value.response.status_code == 429
    agent.close()


def test_a_trial_waits_for_the_markers_of_its_response(service):
    closed = 'circuit-breaker; name="orders-breaker"; event=closed'

    def answer(fields):
        if 2 in fields:
            return verdict_reply(fields[1][0], call_id=9, await_markers=True)
        return markers_reply(fields[1][0], [("Middlepipe-Callback", closed)])

    agent = FakeAgent(answer)
    callbacks = middlepipe.Callbacks()
    seen = []
    callbacks.on("*", seen.append)
    response = session_for(agent, service, callbacks).get(service.url())
    assert response.headers["Middlepipe-Callback"] == closed
    assert [e.event for e in seen] == ["closed"]
    agent.close()


def test_a_split_sends_the_call_to_the_chosen_service(service):
    canary = Service()
    agent = FakeAgent(lambda f: verdict_reply(f[1][0], call_id=1, destination="orders-v2",
                                              endpoints=[("127.0.0.1", canary.port)]) if 2 in f else None)
    session_for(agent, service).get(service.url())
    assert (service.calls, canary.calls) == (0, 1)
    canary.server.shutdown()
    agent.close()


def test_without_an_agent_calls_go_through_and_it_warns_once(service, caplog):
    session = middlepipe.Session(services={f"127.0.0.1:{service.port}": "orders"},
                                 socket_path="/nonexistent/agent.sock")
    with caplog.at_level(logging.WARNING, logger="middlepipe"):
        for _ in range(3):
            assert session.get(service.url()).status_code == 200
    assert service.calls == 3
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_a_malformed_reply_fails_open(service):
    agent = FakeAgent(lambda f: b"RAW:" + b"\x00\x00\x00\x03\xff\xff\xff")
    assert session_for(agent, service).get(service.url()).status_code == 200
    assert service.calls == 1
    agent.close()


def test_callback_markers_parse_like_the_cpp_hook():
    event = middlepipe.parse_callback_marker(
        'circuit-breaker; name="orders-breaker"; event=open; detail="50%; of 4 calls"')
    assert event == middlepipe.CallbackEvent("circuit-breaker", "orders-breaker", "open", "50%; of 4 calls")
    assert middlepipe.parse_callback_marker("garbage") is None
    assert middlepipe.parse_callback_marker('kind; name="unterminated') is None


def test_hosts_name_their_service():
    from middlepipe.session import _service_of
    assert _service_of("http://orders.internal:8080/x", {}) == "orders"
    assert _service_of("http://10.0.0.7:8080/x", {}) is None
    assert _service_of("http://10.0.0.7:8080/x", {"10.0.0.7:8080": "orders"}) == "orders"
    assert _service_of("http://db.internal/x", {"db.internal": "billing"}) == "billing"


def test_a_client_library_that_cannot_load_is_said_and_the_socket_decides(service, caplog, monkeypatch):
    monkeypatch.setenv("MP_CLIENT_LIBRARY", "/nonexistent/libmiddlepipe_client.so")
    agent = FakeAgent(lambda f: verdict_reply(f[1][0], markers=[("Middlepipe-Epoch", "4")]) if 2 in f else None)
    with caplog.at_level(logging.WARNING, logger="middlepipe"):
        session = session_for(agent, service)
        assert session.adapter.fast_path is None
        assert session.get(service.url()).headers["Middlepipe-Epoch"] == "4"
    assert any("/nonexistent/libmiddlepipe_client.so" in r.getMessage() for r in caplog.records)
    agent.close()
