"""Self-test of tests/support/faultproxy.py against a tiny fake MySQL server (no database).

Deliberately uses no fixture from tests/support: everything here is local, and every
blocking call is bounded by a socket timeout so a broken proxy fails, not hangs.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Iterator, Optional

import pytest

from support.faultproxy import FaultProxy

TIMEOUT = 3.0  # upper bound for any single blocking socket operation in these tests


# ------------------------------------------------------------------- wire helpers


def packet(seq: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes([seq]) + payload


def recv_exact(sock: socket.socket, n: int) -> Optional[bytes]:
    """Read exactly n bytes; None on EOF/reset (how a lost connection looks)."""
    buf = b""
    while len(buf) < n:
        try:
            chunk = sock.recv(n - len(buf))
        except ConnectionResetError:
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def recv_packet(sock: socket.socket) -> Optional[tuple[int, bytes]]:
    header = recv_exact(sock, 4)
    if header is None:
        return None
    payload = recv_exact(sock, int.from_bytes(header[:3], "little"))
    if payload is None:
        return None
    return header[3], payload


OK = b"\x00\x00\x00\x02\x00\x00\x00"  # OK packet: affected 0, insert id 0, status, warnings
HANDSHAKE = b"\x0afake-5.5\x00" + b"\x01\x00\x00\x00" + b"saltsalt\x00"
AUTH = b"\x00\x02\x00\x00" + b"\x00" * 28 + b"user\x00"  # caps without SSL/COMPRESS


class FakeServer:
    """Handshake seq 0, read auth seq 1, OK seq 2, then an OK per request (recorded)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.requests: list[bytes] = []
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            sock.sendall(packet(0, HANDSHAKE))
            if recv_packet(sock) is None:
                return
            sock.sendall(packet(2, OK))
            while True:
                got = recv_packet(sock)
                if got is None:
                    return
                with self._lock:
                    self.requests.append(got[1])  # recorded before replying
                sock.sendall(packet(got[0] + 1, OK))
        except OSError:
            return

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._socks:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


@pytest.fixture
def upstream() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def proxy(upstream: FakeServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.address) as p:
        yield p


def connect(proxy: FaultProxy) -> socket.socket:
    """Connect through the proxy and complete the fake handshake."""
    sock = socket.create_connection(proxy.address, timeout=TIMEOUT)
    assert recv_packet(sock) == (0, HANDSHAKE)
    sock.sendall(packet(1, AUTH))
    assert recv_packet(sock) == (2, OK)
    return sock


def query(sock: socket.socket, sql: bytes) -> Optional[tuple[int, bytes]]:
    """Send a COM_QUERY; return the reply packet, or None if the connection was lost."""
    sock.sendall(packet(0, b"\x03" + sql))
    return recv_packet(sock)


# -------------------------------------------------------------------------- tests


def test_pass_through_round_trip(proxy: FaultProxy, upstream: FakeServer) -> None:
    with connect(proxy) as sock:
        assert query(sock, b"SELECT 1") == (1, OK)
        assert query(sock, b"SELECT 2") == (1, OK)
    assert upstream.requests == [b"\x03SELECT 1", b"\x03SELECT 2"]
    assert proxy.connections == 1 and proxy.drops == 0


def test_drop_after_request_applies_but_loses_reply(proxy: FaultProxy, upstream: FakeServer) -> None:
    with connect(proxy) as sock:
        proxy.drop_after_request()
        assert query(sock, b"INSERT 1") is None  # client: lost connection
    assert upstream.requests == [b"\x03INSERT 1"]  # ...but the server got it
    assert proxy.drops == 1
    with connect(proxy) as sock:  # count exhausted: back to pass-through
        assert query(sock, b"INSERT 2") == (1, OK)


def test_drop_before_request_never_forwards(proxy: FaultProxy, upstream: FakeServer) -> None:
    with connect(proxy) as sock:
        proxy.drop_before_request()
        assert query(sock, b"INSERT 1") is None
    time.sleep(0.2)  # give a wrongly forwarded request time to show up
    assert upstream.requests == []
    assert proxy.drops == 1


def test_match_filters_requests(proxy: FaultProxy, upstream: FakeServer) -> None:
    proxy.drop_after_request(match=b"Title7")
    with connect(proxy) as sock:
        assert query(sock, b"INSERT 'Title6'") == (1, OK)
        assert query(sock, b"INSERT 'Title7'") is None
    assert upstream.requests == [b"\x03INSERT 'Title6'", b"\x03INSERT 'Title7'"]
    assert proxy.drops == 1


def test_match_sees_stmt_execute_parameters(proxy: FaultProxy, upstream: FakeServer) -> None:
    # COM_STMT_EXECUTE carries no SQL, but a string parameter's bytes are in it.
    execute = b"\x17" + (1).to_bytes(4, "little") + b"\x00\x01\x00\x00\x00\x00\x01\xfe\x00" + b"\x06Title7"
    proxy.drop_before_request(match=b"Title7")
    with connect(proxy) as sock:
        sock.sendall(packet(0, execute))
        assert recv_packet(sock) is None
    assert upstream.requests == [] and proxy.drops == 1


def test_match_on_packet_split_across_reads(proxy: FaultProxy, upstream: FakeServer) -> None:
    proxy.drop_before_request(match=b"Title7")
    with connect(proxy) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i, byte in enumerate(packet(0, b"\x03INSERT 'Title7'")):
            sock.sendall(bytes([byte]))
            if i in (1, 5, 12):  # let the proxy see partial header / partial payload
                time.sleep(0.05)
        assert recv_packet(sock) is None
    time.sleep(0.2)
    assert upstream.requests == []


def test_count_spans_connections(proxy: FaultProxy, upstream: FakeServer) -> None:
    proxy.drop_before_request(count=2)
    for _ in range(2):
        with connect(proxy) as sock:
            assert query(sock, b"X") is None
    with connect(proxy) as sock:
        assert query(sock, b"Y") == (1, OK)
    assert proxy.drops == 2 and proxy.connections == 3
    assert upstream.requests == [b"\x03Y"]


def test_delay_replies(proxy: FaultProxy) -> None:
    with connect(proxy) as sock:
        proxy.delay_replies(0.4)
        started = time.monotonic()
        assert query(sock, b"SELECT 1") == (1, OK)
        assert time.monotonic() - started >= 0.4
        proxy.pass_through()
        started = time.monotonic()
        assert query(sock, b"SELECT 2") == (1, OK)
        assert time.monotonic() - started < 0.3


def test_blackhole(proxy: FaultProxy, upstream: FakeServer) -> None:
    existing = connect(proxy)
    proxy.blackhole()
    existing.settimeout(0.5)
    existing.sendall(packet(0, b"\x03SELECT 1"))
    with pytest.raises(socket.timeout):  # no reply, and no close either
        existing.recv(1)
    fresh = socket.create_connection(proxy.address, timeout=0.5)  # accepted...
    with pytest.raises(socket.timeout):  # ...but no handshake
        fresh.recv(1)
    assert upstream.requests == []
    assert proxy.connections == 2
    existing.close()
    fresh.close()


def test_refuse_then_reopen_same_port(proxy: FaultProxy) -> None:
    port = proxy.address[1]
    kept = connect(proxy)  # an established connection keeps using the port meanwhile
    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=TIMEOUT)
    proxy.pass_through()
    assert proxy.address[1] == port
    with connect(proxy) as sock:
        assert query(sock, b"SELECT 1") == (1, OK)
    assert query(kept, b"SELECT 2") == (1, OK)  # refuse() does not cut existing ones
    kept.close()


def test_kill_connections(proxy: FaultProxy) -> None:
    socks = [connect(proxy) for _ in range(3)]
    proxy.kill_connections()
    for sock in socks:
        assert recv_packet(sock) is None
        sock.close()
    with connect(proxy) as sock:  # the listener is unaffected
        assert query(sock, b"SELECT 1") == (1, OK)


def test_stop_is_bounded_with_connections_open(upstream: FakeServer) -> None:
    proxy = FaultProxy(upstream.address).start()
    plain = connect(proxy)
    delayed = connect(proxy)
    proxy.delay_replies(30)
    delayed.sendall(packet(0, b"\x03SELECT SLEEP"))  # s2c thread now holding the reply back
    time.sleep(0.2)
    proxy.blackhole()
    hung = socket.create_connection(proxy.address, timeout=TIMEOUT)  # no upstream at all
    time.sleep(0.1)
    started = time.monotonic()
    proxy.stop()
    assert time.monotonic() - started < 3.0
    assert not any(t.is_alive() for t in proxy._threads)
    for sock in (plain, delayed, hung):
        assert recv_packet(sock) is None
        sock.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=TIMEOUT)


def test_delay_after_request_forwards_it_then_holds_replies(proxy: FaultProxy, upstream: FakeServer) -> None:
    with connect(proxy) as sock:
        proxy.delay_after_request(0.4, match=b"SLOW")
        assert query(sock, b"FAST") == (1, OK)
        started = time.monotonic()
        assert query(sock, b"SLOW") == (1, OK)  # forwarded at once, its reply held back
        assert time.monotonic() - started >= 0.4
        assert query(sock, b"AFTER") == (1, OK)  # a slow node from then on
        assert time.monotonic() - started >= 0.8
    assert upstream.requests == [b"\x03FAST", b"\x03SLOW", b"\x03AFTER"]
    assert proxy.drops == 1


@pytest.mark.parametrize("drop", ["drop_after_request", "drop_before_request"])
def test_drop_with_crash_kills_the_node(proxy: FaultProxy, upstream: FakeServer, drop: str) -> None:
    """crash=True: when the drop fires, the node dies as with kill -9: every other connection
    is cut and every new connect refused, until pass_through() (same port)."""
    other = connect(proxy)
    with connect(proxy) as sock:
        getattr(proxy, drop)(match=b"INSERT", crash=True)
        assert query(sock, b"SELECT 1") == (1, OK)  # not matched: passes
        assert query(sock, b"INSERT 1") is None
    assert recv_packet(other) is None  # cut too
    other.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(proxy.address, timeout=TIMEOUT)
    forwarded = [b"\x03SELECT 1"] + ([b"\x03INSERT 1"] if drop == "drop_after_request" else [])
    assert upstream.requests == forwarded
    assert proxy.drops == 1
    proxy.pass_through()
    with connect(proxy) as sock:
        assert query(sock, b"INSERT 2") == (1, OK)


def test_drop_without_crash_keeps_the_node_answering(proxy: FaultProxy) -> None:
    other = connect(proxy)
    with connect(proxy) as sock:
        proxy.drop_after_request()
        assert query(sock, b"INSERT 1") is None
    assert query(other, b"SELECT 1") == (1, OK)  # other connections untouched
    other.close()
    with connect(proxy) as sock:  # and new ones accepted
        assert query(sock, b"SELECT 2") == (1, OK)
