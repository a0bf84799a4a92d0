"""The connection pool to DeepSeek: keep-alive with a cheap probe, verified TLS, and the environment's proxy."""

from __future__ import annotations

import base64
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.parse
from collections.abc import Iterator

import httpcore2
import pytest
from structlog.testing import capture_logs

from app.errors import UpstreamError
from app.services import http_transport
from app.services.http_transport import (
    PoolShards,
    ProbedBackend,
    ProbedStream,
    connection_pool,
    environment_proxy,
    os_poll,
    socket_readable,
)
from tests.deepseek_standin import Reply, StandIn

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
MESSAGES = [{"role": "user", "content": "Do you deliver on Sundays?"}]
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR")


class LoopbackServer:
    """A TCP server on loopback that handles each connection in a thread of its own."""

    def __init__(self) -> None:
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def handle(self, connection: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.handle, args=(connection,), daemon=True).start()


class KeepAliveServer(LoopbackServer):
    """Answer every request on a connection with a keep-alive 200; optionally close each connection after one answer."""

    def __init__(self, close_after_answer: bool) -> None:
        super().__init__()
        self.close_after_answer = close_after_answer
        self.url = f"http://{self.address}/"

    def handle(self, connection: socket.socket) -> None:
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


class RelayProxy(LoopbackServer):
    """An HTTP proxy on loopback: forwards absolute-form requests, tunnels CONNECT, and records what it was asked."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self.authorizations: list[str | None] = []
        super().__init__()

    def handle(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                data = client.recv(65536)
                if not data:
                    return
                head += data
            line, _, rest = head.partition(b"\r\n")
            method, target, _ = line.decode().split(" ", 2)
            fields = [field.split(":", 1) for field in rest.split(b"\r\n\r\n")[0].decode().split("\r\n") if field]
            self.request_lines.append(line.decode())
            self.authorizations.append(next((v.strip() for k, v in fields if k.lower() == "proxy-authorization"), None))
            if method == "CONNECT":
                host, port = target.rsplit(":", 1)
                upstream = socket.create_connection((host, int(port)))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:  # the stand-in reads an absolute-form request as well as any other
                url = urllib.parse.urlsplit(target)
                upstream = socket.create_connection((url.hostname, url.port))
                upstream.sendall(head)
            with upstream:
                threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
                _pipe(upstream, client)


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
        target.shutdown(socket.SHUT_WR)
    except OSError:
        pass


@pytest.fixture(params=[False, True], ids=["kept-open", "closed-by-server"])
def server(request: pytest.FixtureRequest) -> Iterator[KeepAliveServer]:
    server = KeepAliveServer(close_after_answer=request.param)
    yield server
    server.stop()


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy and no extra certificate authority from the environment, unless the test sets one."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and its key (no system trusts it)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed (needed to make a test certificate)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


@pytest.fixture
def tls_standin(certificate: tuple[str, str]) -> Iterator[StandIn]:
    """A DeepSeek stand-in serving HTTPS with the self-signed certificate."""
    server = StandIn(tls=certificate).start()
    yield server
    server.stop()


@pytest.fixture
def proxy() -> Iterator[RelayProxy]:
    relay = RelayProxy()
    yield relay
    relay.stop()


def test_idle_connections_are_reused_and_ones_the_server_closed_are_replaced(server):
    with connection_pool(server.url) as pool:
        first = pool.request("GET", server.url)
        time.sleep(0.2)  # let the server's close reach the client
        second = pool.request("GET", server.url)

    assert (first.status, second.status) == (200, 200)
    assert server.accepted == (2 if server.close_after_answer else 1)


def test_idle_connections_are_probed_with_the_system_poll_when_gevent_patched_select(monkeypatch, server):
    polls: list[object] = []

    def system_poll() -> object:
        polls.append(select.poll())
        return polls[-1]

    fake_monkey = types.SimpleNamespace(is_module_patched=lambda name: name == "select",
                                        get_original=lambda module, name: system_poll)
    monkeypatch.setitem(sys.modules, "gevent.monkey", fake_monkey)
    with connection_pool(server.url) as pool:
        pool.request("GET", server.url)
        time.sleep(0.2)
        pool.request("GET", server.url)  # the idle connection is checked before it is reused

    assert polls


def test_the_client_keeps_one_connection_for_answers_and_streams(make_client, standin):
    client = make_client()
    for framing in ("chunked", "length"):
        standin.push(Reply(framing=framing), Reply(framing=framing, chunk_size=4))
        client.complete(MESSAGES)
        assert "".join(client.stream(MESSAGES)) == "Hello from the stand-in."

    assert standin.connections == 1


def test_callers_at_once_are_all_answered_each_reusing_its_connection(make_client, standin):
    client = make_client()
    answers: list[str] = []

    def caller() -> None:
        for _ in range(3):
            answers.append(client.complete(MESSAGES).content)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == ["Hello from the stand-in."] * 24
    assert standin.connections <= 8  # one per caller at most: each caller's calls go through the same pool


def test_one_callers_calls_at_once_are_not_held_to_a_shards_share_of_the_connections(monkeypatch):
    server = KeepAliveServer(close_after_answer=False)
    monkeypatch.setattr(http_transport, "MAX_CONNECTIONS", 8)  # a share of 1 for each of 8 shards
    shards = PoolShards(server.url.rstrip("/"), shards=8)
    wait_at_most_half_a_second = {"timeout": {"pool": 0.5, "connect": 2.0, "read": 2.0}}

    def get() -> httpcore2.Response:
        return shards.handle_request(httpcore2.Request(
            "GET", server.url, headers=[(b"Host", server.address.encode())], extensions=wait_at_most_half_a_second))

    try:
        open_responses = [get() for _ in range(3)]  # unread, they hold their connections as streams do
        assert [response.status for response in open_responses] == [200] * 3
        assert server.accepted == 3
        with pytest.raises(httpcore2.PoolTimeout):  # the cap still holds, per pool
            open_responses += [get() for _ in range(6)]
    finally:
        shards.close()
        server.stop()


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
    ours, theirs = socket.socketpair()
    polls: list[object] = []

    class TlsStream:
        def get_extra_info(self, info):
            return ours if info == "socket" else None

    class Plain:
        def start_tls(self, ssl_context, server_hostname=None, timeout=None):
            self.tls_args = (ssl_context, server_hostname, timeout)
            return TlsStream()

    def poll() -> object:
        polls.append(select.poll())
        return polls[-1]

    plain = Plain()
    with ours, theirs:
        tls = ProbedStream(plain, poll).start_tls("context", "api.deepseek.com", 5.0)
        assert tls.get_extra_info("is_readable") is False
        theirs.close()
        assert tls.get_extra_info("is_readable") is True

    assert isinstance(tls, ProbedStream) and len(polls) == 2
    assert plain.tls_args == ("context", "api.deepseek.com", 5.0)


def test_a_certificate_nobody_trusts_is_refused(clean_environment, make_client, tls_standin):
    with capture_logs() as logs, pytest.raises(UpstreamError):
        make_client(base_url=tls_standin.url, max_retries=0).complete(MESSAGES)

    assert tls_standin.requests == []
    assert [line["error_type"] for line in logs if line["event"] == "llm_connection_error"] == ["ConnectError"]


def test_a_certificate_trusted_through_ssl_cert_file_is_accepted(clean_environment, make_client, tls_standin,
                                                                 certificate):
    clean_environment.setenv("SSL_CERT_FILE", certificate[0])
    tls_standin.push(Reply(content="Over TLS."))

    assert make_client(base_url=tls_standin.url).complete(MESSAGES).content == "Over TLS."
    assert tls_standin.requests[0].headers["authorization"] == "Bearer sk-test"


def test_http_goes_through_the_environment_proxy_with_its_credentials(clean_environment, make_client, standin, proxy):
    clean_environment.setenv("HTTP_PROXY", f"http://ops:p%40ss@{proxy.address}")
    standin.push(Reply(content="Proxied."), Reply(content="Proxied stream.", chunk_size=4))
    client = make_client()

    assert client.complete(MESSAGES).content == "Proxied."
    assert "".join(client.stream(MESSAGES)) == "Proxied stream."
    assert proxy.request_lines[0] == f"POST {standin.url}/chat/completions HTTP/1.1"
    assert proxy.authorizations[0] == "Basic " + base64.b64encode(b"ops:p@ss").decode()


def test_https_is_tunnelled_through_the_environment_proxy(clean_environment, make_client, tls_standin, proxy,
                                                          certificate):
    clean_environment.setenv("HTTPS_PROXY", f"http://{proxy.address}")
    clean_environment.setenv("SSL_CERT_FILE", certificate[0])
    tls_standin.push(Reply(content="Tunnelled."))

    assert make_client(base_url=tls_standin.url).complete(MESSAGES).content == "Tunnelled."
    assert proxy.request_lines == [f"CONNECT {tls_standin.url.removeprefix('https://')} HTTP/1.1"]


def test_no_proxy_sends_straight_to_deepseek(clean_environment, make_client, standin, proxy):
    clean_environment.setenv("ALL_PROXY", f"http://{proxy.address}")
    clean_environment.setenv("NO_PROXY", "127.0.0.1")

    assert make_client().complete(MESSAGES).content == "Hello from the stand-in."
    assert proxy.request_lines == []


@pytest.mark.parametrize(
    ("variables", "url", "expected"),
    [
        ({}, "https://api.deepseek.com", None),
        ({"HTTPS_PROXY": "http://proxy.internal:3128"}, "https://api.deepseek.com", b"http://proxy.internal:3128/"),
        ({"HTTPS_PROXY": "proxy.internal:3128"}, "https://api.deepseek.com", b"http://proxy.internal:3128/"),
        ({"HTTP_PROXY": "http://proxy.internal:3128"}, "https://api.deepseek.com", None),
        ({"ALL_PROXY": "https://proxy.internal"}, "https://api.deepseek.com", b"https://proxy.internal/"),
        ({"ALL_PROXY": "http://proxy.internal:3128", "NO_PROXY": ".deepseek.com"}, "https://api.deepseek.com", None),
    ],
)
def test_the_proxy_is_the_one_the_environment_names_for_the_scheme(clean_environment, variables, url, expected):
    for name, value in variables.items():
        clean_environment.setenv(name, value)

    proxy = environment_proxy(url)

    assert (proxy and bytes(proxy.url)) == expected


def test_a_proxy_we_cannot_speak_is_refused_at_start_up(clean_environment, make_client):
    clean_environment.setenv("ALL_PROXY", "socks5://proxy.internal:1080")

    with pytest.raises(ValueError, match="http:// or https://"):
        make_client()

