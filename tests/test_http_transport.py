"""The openai client's HTTP transport: keep-alive connections, probed for a server's close without gevent's poll."""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
import types
from collections.abc import Iterator

import pytest

from app.services.http_transport import ProbedBackend, ProbedStream, deepseek_http_client, os_poll, socket_readable

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class KeepAliveServer:
    """Answer every request on a connection with a keep-alive 200; optionally close each connection after one answer."""

    def __init__(self, close_after_answer: bool) -> None:
        self.close_after_answer = close_after_answer
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/"

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = connection.recv(65536)
                    if not data:
                        return
                    buffer += data
                _, buffer = buffer.split(b"\r\n\r\n", 1)  # GET requests: no body
                connection.sendall(RESPONSE)
                if self.close_after_answer:
                    return  # closes the socket while the client keeps the connection as idle

    def stop(self) -> None:
        self._listener.close()


@pytest.fixture(params=[False, True], ids=["kept-open", "closed-by-server"])
def server(request: pytest.FixtureRequest) -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(close_after_answer=request.param)
    yield server
    server.stop()


def test_idle_connections_are_reused_and_ones_the_server_closed_are_replaced(server):
    with deepseek_http_client() as client:
        first = client.get(server.url)
        time.sleep(0.2)  # let the server's close reach the client
        second = client.get(server.url)

    assert (first.status_code, second.status_code) == (200, 200)
    assert server.accepted == (2 if server.close_after_answer else 1)


def test_the_client_connects_through_the_probed_backend():
    with deepseek_http_client() as client:
        assert isinstance(client._transport._pool._network_backend, ProbedBackend)


def test_a_socket_is_readable_once_the_other_end_writes_or_closes():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert socket_readable(ours, select.poll) is False
        theirs.sendall(b"x")
        assert socket_readable(ours, select.poll) is True
        ours.recv(1)
        theirs.close()
        assert socket_readable(ours, select.poll) is True


def test_a_missing_or_closed_socket_counts_as_readable():
    closed = socket.socket()
    closed.close()

    assert socket_readable(None, select.poll) is True
    assert socket_readable(closed, select.poll) is True


def test_the_probe_uses_the_system_poll_even_when_gevent_patched_select(monkeypatch):
    def original(module: str, name: str) -> object:
        assert (module, name) == ("select", "poll")
        return "the original poll"

    fake_monkey = types.SimpleNamespace(is_module_patched=lambda name: name == "select", get_original=original)
    monkeypatch.setitem(sys.modules, "gevent.monkey", fake_monkey)
    assert os_poll() == "the original poll"

    monkeypatch.setitem(sys.modules, "gevent.monkey", types.SimpleNamespace(is_module_patched=lambda name: False))
    assert os_poll() is select.poll


def test_a_probed_stream_passes_everything_else_through():
    listener = socket.create_server(("127.0.0.1", 0))
    with listener:
        stream = ProbedBackend().connect_tcp("127.0.0.1", listener.getsockname()[1], timeout=2)
        assert isinstance(stream, ProbedStream)
        peer, _ = listener.accept()
        with peer:
            stream.write(b"ping", timeout=2)
            assert peer.recv(4) == b"ping"
            peer.sendall(b"pong")
            assert stream.read(4, timeout=2) == b"pong"
            assert stream.get_extra_info("server_addr") == listener.getsockname()
            assert stream.get_extra_info("is_readable") is False
            stream.close()


def test_a_tls_stream_is_probed_the_same_way():
    class Plain:
        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            self.tls_args = (ssl_context, server_hostname, timeout)
            return "the TLS stream"

    plain = Plain()
    tls = ProbedStream(plain, select.poll).start_tls("context", "api.deepseek.com", 5.0)

    assert isinstance(tls, ProbedStream) and tls._stream == "the TLS stream"
    assert plain.tls_args == ("context", "api.deepseek.com", 5.0)


def test_a_proxy_named_by_the_environment_is_still_used(monkeypatch):
    from app.services.http_transport import ProbedBackend, deepseek_http_client

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")

    client = deepseek_http_client()

    pools = [getattr(mount, "_pool", None) for mount in client._mounts.values() if mount is not None]
    assert pools, "the environment's proxy is mounted"
    assert not any(isinstance(getattr(pool, "_network_backend", None), ProbedBackend) for pool in pools)
    client.close()
