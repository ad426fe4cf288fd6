"""Middlepipes for `requests`: a transport adapter that hands each call to the agent
and applies its verdict, and a Session with it mounted for http:// and https://.

    session = middlepipe.Session()                   # $MP_AGENT_SOCKET
    middlepipe.on("open", lambda e: print("breaker", e.middlepipe, "opened"))
    try:
        orders = session.get("http://orders.internal:8080/orders")
    except middlepipe.CircuitOpenError:
        orders = cached_orders()

The service a call goes to is what `mp bind-middlepipe … APP SERVICE` names. By default it
is the first label of the URL's host name (`orders` for http://orders.internal:8080/);
`services={"10.0.0.7:8080": "orders"}` maps hosts (with or without port) explicitly.
Calls to an IP address with no mapping go through unfiltered.

When libmiddlepipe_client.so is found ($MP_CLIENT_LIBRARY, or the loader's path) calls
are decided in-process from the agent's shared-memory segment wherever the agent says
they can be, without a round trip; `fast_path=False` asks the agent's socket every time.
The verdicts are the same either way.
"""
from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from typing import Callable, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from . import _fastpath, _wire
from .errors import error_for
from .hook import CALLBACK_HEADER, AgentLink, CallbackEvent, Callbacks, parse_callback_marker


def _service_of(url: str, services: Mapping[str, str]) -> Optional[str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    for key in (f"{host}:{parts.port}" if parts.port else None, host):
        if key and key in services:
            return services[key]
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        return host.split(".")[0] or None


def _with_endpoint(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if parts.username:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _synthesized(request: requests.PreparedRequest, answer: _wire.SynthesizedResponse) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status
    response.headers = CaseInsensitiveDict()
    for name, value in answer.headers:
        _add_header(response.headers, name, value)
    response._content = answer.body
    response.url = request.url or ""
    response.request = request
    response.reason = "Middlepipe"
    return response


def _add_header(headers: CaseInsensitiveDict, name: str, value: str) -> None:
    """Repeated headers (several callbacks) are joined with ", ", as HTTP allows."""
    headers[name] = f"{headers[name]}, {value}" if name in headers else value


class MiddlepipeAdapter(HTTPAdapter):
    """An HTTPAdapter that runs each call through the app's middlepipe chain."""

    def __init__(self, services: Optional[Mapping[str, str]] = None, socket_path: Optional[str] = None,
                 callbacks: Optional[Callbacks] = None, fast_path: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self._services = dict(services or {})
        self._link = AgentLink(socket_path)
        # Calls decided in-process from the agent's segment where it can (when
        # libmiddlepipe_client.so is found); the socket decides the rest.
        self.fast_path = _fastpath.open_fast_path(self._link.socket_path) if fast_path else None
        self._callbacks = callbacks if callbacks is not None else default_callbacks
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        service = _service_of(request.url or "", self._services)
        if service is None:
            return super().send(request, **kwargs)
        if self.fast_path is not None:
            action, detail = self.fast_path.on_request(service, list(request.headers.items()))
            if action == _fastpath.NO_CHAIN:
                return super().send(request, **kwargs)
            if action == _fastpath.RESPOND:
                return self._respond(request, detail.markers, detail)
            if action == _fastpath.CONTINUE:
                return self._send_fast(request, service, detail, kwargs)
        parts = urlsplit(request.url or "")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        request_id = self._link.next_request_id()
        reply = self._link.round_trip(
            request_id, _wire.on_request(request_id, service, request.method or "GET", path,
                                         list(request.headers.items())))
        if reply is None or reply.verdict is None:
            return super().send(request, **kwargs)  # fail open
        verdict = reply.verdict

        if verdict.action == _wire.ACTION_RESPOND:
            return self._respond(request, verdict.markers, verdict.response)

        for name in verdict.remove_headers:
            request.headers.pop(name, None)
        for name, value in verdict.set_headers:
            request.headers[name] = value
        self._route(request, service, verdict.destination_service, verdict.destination_endpoints)
        started = self._delay(verdict.delay_ms)
        try:
            response = super().send(request, **kwargs)
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as error:
            self._report(verdict, 0, started, 0, str(error) or type(error).__name__)
            raise
        markers = list(verdict.markers)
        markers += self._report(verdict, response.status_code, started, len(response.content or b""), "")
        return self._mark(response, markers)

    def _route(self, request: requests.PreparedRequest, service: str, destination: str, endpoints) -> None:
        """Points the request at `destination` (a traffic split's choice), one of its
        endpoints in turn; nothing when it is the service asked for."""
        if not destination or destination == service:
            return
        if not endpoints:
            raise requests.exceptions.ConnectionError(
                f"middlepipe: no endpoint of {destination} is reachable", request=request)
        with self._turn_lock:
            turn = next(self._turn)
        host, port = endpoints[turn % len(endpoints)]
        request.url = _with_endpoint(request.url or "", host, port)

    @staticmethod
    def _delay(delay_ms: int) -> float:
        """Waits an injected delay; the call's start, from before it: the delay stands for
        a slow service and counts in the latency reported."""
        started = time.monotonic()
        if delay_ms:
            time.sleep(delay_ms / 1000.0)
        return started

    def _send_fast(self, request: requests.PreparedRequest, service: str, detail: _fastpath.Send,
                   kwargs) -> requests.Response:
        """A call the fast path let through: sent, its outcome into the segment's ring."""
        call, markers = detail.call, detail.markers
        body = request.body or b""
        request_bytes = len(body) if isinstance(body, (bytes, str)) else 0
        try:
            self._route(request, service, detail.destination, detail.endpoints)
        except BaseException:
            self.fast_path.on_response(call, 0, 0, request_bytes, 0)
            raise
        started = self._delay(detail.delay_ms)
        try:
            response = super().send(request, **kwargs)
        except BaseException:
            self.fast_path.on_response(call, 0, int((time.monotonic() - started) * 1e6), request_bytes, 0)
            raise
        self.fast_path.on_response(call, response.status_code, int((time.monotonic() - started) * 1e6),
                                   request_bytes, len(response.content or b""))
        return self._mark(response, markers)

    def _mark(self, response: requests.Response, markers) -> requests.Response:
        for name, value in markers:
            _add_header(response.headers, name, value)
            if name == CALLBACK_HEADER:
                self._callbacks.fire(value)
        return response

    def _respond(self, request: requests.PreparedRequest, markers, answer) -> requests.Response:
        """A middlepipe answered (`answer`: status, headers, body, raise_error)."""
        first: Optional[CallbackEvent] = None
        for name, value in markers:
            if name == CALLBACK_HEADER:
                self._callbacks.fire(value)
                first = first or parse_callback_marker(value)
        response = _synthesized(request, answer)
        if not answer.raise_error:
            return response  # the middlepipe's configured fallback
        retry_after = response.headers.get("Retry-After")
        raise error_for(first.kind if first else "middlepipe", first.middlepipe if first else "",
                        first.event if first else "", first.detail if first else "", response,
                        float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None)

    def _report(self, verdict: _wire.Verdict, status: int, started: float, response_bytes: int,
                transport_error: str) -> list:
        """OnResponse; the markers it brings back (none when the verdict said none can)."""
        if not verdict.call_id:
            return []
        latency_us = int((time.monotonic() - started) * 1e6)
        request_id = self._link.next_request_id()
        if not verdict.await_response_markers:
            self._link.send_only(_wire.on_response(request_id, verdict.call_id, status, latency_us,
                                                   response_bytes, transport_error, no_reply=True))
            return []
        answer = self._link.round_trip(request_id, _wire.on_response(
            request_id, verdict.call_id, status, latency_us, response_bytes, transport_error, no_reply=False))
        return list(answer.markers) if answer is not None and answer.markers is not None else []

    def close(self) -> None:
        super().close()
        self._link.close()
        if self.fast_path is not None:
            self.fast_path.close()
            self.fast_path = None


class Session(requests.Session):
    """A requests.Session whose calls run through the app's middlepipes."""

    def __init__(self, services: Optional[Mapping[str, str]] = None, socket_path: Optional[str] = None,
                 callbacks: Optional[Callbacks] = None, fast_path: bool = True) -> None:
        super().__init__()
        adapter = MiddlepipeAdapter(services=services, socket_path=socket_path, callbacks=callbacks,
                                    fast_path=fast_path)
        self.adapter = adapter
        self.mount("http://", adapter)
        self.mount("https://", adapter)


# The callbacks `middlepipe.on` registers; every Session uses them unless given its own.
default_callbacks = Callbacks()


def on(event: str, callback: Callable[[CallbackEvent], None]) -> None:
    """Calls `callback(event)` for every `Middlepipe-Callback` marker with this event
    ("open", "half-open", "closed", "limited", "abort", "delay", …; "*" for all)."""
    default_callbacks.on(event, callback)
