"""End to end against a real mp-agent: a circuit breaker bound web -> orders opens for a
Python app using middlepipe.Session, which gets CircuitOpenError and its callback."""
import os
import re
import time

import pytest

import middlepipe
from stack import stack_or_skip


@pytest.fixture
def stack():
    s = stack_or_skip()
    if s is None:
        pytest.skip("build the binaries first (bazel build //...)")
    yield s
    s.close()


def session_for(stack, fast_path: bool, callbacks=None) -> middlepipe.Session:
    session = middlepipe.Session(services={f"127.0.0.1:{stack.service_port}": "orders"},
                                 socket_path=stack.socket, callbacks=callbacks or middlepipe.Callbacks(),
                                 fast_path=fast_path)
    if fast_path and os.environ.get("MP_CLIENT_LIBRARY"):
        assert session.adapter.fast_path is not None, "libmiddlepipe_client.so did not load"
    return session


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "socket"])
def test_a_breaker_opens_for_a_python_app(stack, fast_path):
    stack.mp("create-middlepipe", "circuit-breaker", "orders-breaker", "-c",
             '{"min_requests":4,"error_threshold_percent":50,"open_ms":60000}')
    assert "applied to 1/1 instances" in stack.mp("bind-middlepipe", "orders-breaker", "web", "orders")

    callbacks = middlepipe.Callbacks()
    opened = []
    callbacks.on("open", opened.append)
    session = session_for(stack, fast_path, callbacks)
    for _ in range(5):
        response = session.get(stack.service_url())
        assert response.status_code == 200
        assert response.headers["Middlepipe-Epoch"] == "1"

    stack.set_failing(True)
    deadline = time.monotonic() + 20
    error = None
    while error is None and time.monotonic() < deadline:
        try:
            assert session.get(stack.service_url()).status_code == 500
            time.sleep(0.02)
        except middlepipe.CircuitOpenError as raised:
            error = raised
    assert error is not None, "the breaker never opened"
    assert error.middlepipe == "orders-breaker"
    assert [e.middlepipe for e in opened][:1] == ["orders-breaker"]
    calls = stack.service_calls()
    for _ in range(5):
        with pytest.raises(middlepipe.CircuitOpenError):
            session.get(stack.service_url())
    assert stack.service_calls() == calls, "an open breaker keeps calls off the service"
    # An app on the other path sees the same: the open breaker, with the same markers.
    other = session_for(stack, not fast_path)
    seen = []
    for each in (session, other):
        with pytest.raises(middlepipe.CircuitOpenError) as raised:
            each.get(stack.service_url())
        seen.append((raised.value.kind, raised.value.middlepipe, raised.value.event,
                     sorted(raised.value.response.headers.items())))
    assert seen[0] == seen[1]


def test_rate_limit_verdicts_are_the_same_on_both_paths(stack):
    """Calls alternate between an app on the fast path and one asking the socket; the
    limit counts them together and both see the same markers and the same limited calls."""
    stack.mp("create-middlepipe", "rate-limit", "orders-limit", "-c",
             '{"requests_per_second":0.5,"burst":3,"scope":"instance"}')
    stack.mp("create-middlepipe", "monitor", "orders-monitor")
    stack.mp("bind-middlepipe", "orders-limit", "web", "orders")
    assert "applied to 1/1 instances" in stack.mp("bind-middlepipe", "orders-monitor", "web", "orders")
    fast, asking = session_for(stack, True), session_for(stack, False)
    outcomes = []
    for i in range(8):
        session = fast if i % 2 == 0 else asking
        try:
            response = session.get(stack.service_url())
            outcomes.append((response.status_code, response.headers.get("Middlepipe-Epoch")))
        except middlepipe.RateLimitedError as limited:
            outcomes.append(("limited", limited.response.headers.get("Middlepipe-Epoch")))
    passed = outcomes.count((200, "2"))
    assert passed >= 3 and outcomes == [(200, "2")] * passed + [("limited", "2")] * (8 - passed), outcomes
    assert passed <= 6, "both apps must be limited"
    assert stack.service_calls() == passed, "limited calls reached the service"
    stack.close()  # the agent's last line counts what the fast path decided
    decided = re.search(r"and (\d+) on the fast path", stack.log("agent"))
    assert decided is not None and int(decided.group(1)) == 4, stack.log("agent")


def test_split_and_delay_are_the_same_on_both_paths(stack):
    """A sticky traffic split and an injected delay, decided in-process by the fast path
    and by the agent over the socket: each user goes to the same service either way, every
    call is delayed and says so, and the agent counts the fast path's calls."""
    v2_port = stack.start_service("orders-v2")
    stack.mp("create-middlepipe", "fault-inject", "orders-slow", "-c", '{"delay_percent":100,"delay_ms":30}')
    stack.mp("create-middlepipe", "traffic-split", "orders-canary", "-c",
             '{"sticky_header":"x-user","routes":[{"service":"orders","weight":1},{"service":"orders-v2","weight":1}]}')
    stack.mp("bind-middlepipe", "orders-slow", "web", "orders")
    assert "applied to 1/1 instances" in stack.mp("bind-middlepipe", "orders-canary", "web", "orders")
    fast, asking = session_for(stack, True), session_for(stack, False)
    routes = {}
    for user in range(12):
        for path, session in (("fast", fast), ("socket", asking)):
            before = stack.service_calls(v2_port)
            started = time.monotonic()
            response = session.get(stack.service_url(), headers={"X-User": f"user-{user}"})
            elapsed = time.monotonic() - started
            assert response.status_code == 200
            assert elapsed >= 0.03, f"{path}: the delay was not applied ({elapsed:.3f} s)"
            assert 'event=delay' in response.headers.get("Middlepipe-Callback", ""), response.headers
            routes.setdefault(user, []).append(stack.service_calls(v2_port) - before)
    assert all(len(set(seen)) == 1 for seen in routes.values()), routes
    to_v2 = sum(seen[0] for seen in routes.values())
    assert 0 < to_v2 < 12, f"a 50/50 split sent {to_v2} of 12 users to orders-v2"
    if os.environ.get("MP_CLIENT_LIBRARY"):
        stack.close()
        decided = re.search(r"and (\d+) on the fast path", stack.log("agent"))
        assert decided is not None and int(decided.group(1)) == 12, stack.log("agent")
