"""End to end against a real mp-agent: a circuit breaker bound web -> orders opens for a
Python app using middlepipe.Session, which gets CircuitOpenError and its callback."""
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


def test_a_breaker_opens_for_a_python_app(stack):
    stack.mp("create-middlepipe", "circuit-breaker", "orders-breaker", "-c",
             '{"min_requests":4,"error_threshold_percent":50,"open_ms":60000}')
    assert "applied to 1/1 instances" in stack.mp("bind-middlepipe", "orders-breaker", "web", "orders")

    callbacks = middlepipe.Callbacks()
    opened = []
    callbacks.on("open", opened.append)
    session = middlepipe.Session(services={f"127.0.0.1:{stack.service_port}": "orders"},
                                 socket_path=stack.socket, callbacks=callbacks)
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
