"""A fault-injecting TCP proxy for one MySQL/MariaDB node, for tests.

The proxy sits on loopback between a client and one server and makes the hard
failure cases happen on purpose, deterministically:

* ``drop_after_request``  - the statement reaches the server and runs, but its
  reply is thrown away and the connection is cut: the *ambiguous* outcome.
* ``drop_before_request`` - the statement is never forwarded; the connection is
  cut: a lost connection where the statement certainly did not run.
* ``delay_after_request`` - the statement reaches the server and runs, then the
  node hangs: its reply and every later one (new handshakes included) are held
  back, as by ``delay_replies``: the *ambiguous* outcome on a hung node.
* ``delay_replies``, ``blackhole``, ``refuse``, ``kill_connections`` - slow,
  hung, down and flapping nodes.

With ``crash=True`` a ``drop_*`` fault also kills the node, as ``kill -9`` would: at
the moment of the drop the listener is closed (every later connect is refused) and
every open connection is cut, before the client sees its own connection end. Without
it the node "still answers": new connections pass as before. A client that judges a
node's liveness on a separate connection (multimaster does) tells the two apart: a
reply lost on a dead node, or a connection a live node dropped. The crash is the
proxy's only: the server behind it lives on, so a statement another cut connection
had already forwarded still commits there (its session ends when the server sees the
cut, not with the "crash"). A test of several writes in flight through a crash kills
a real node (``kill -9``), as the chaos tests do.

Design, kept deliberately simple:

* One accept thread per open listening socket, and per proxied connection two
  blocking pump threads (client->server, server->client). Blocking reads mean no
  busy loop; every thread is a daemon so a test run can never hang on exit.
* Threads are woken for shutdown with ``socket.shutdown()``, which (unlike
  ``close()``) reliably interrupts a ``recv``/``accept`` blocked in another thread
  on Linux. File descriptors are closed only by the last pump thread of a
  connection, so no thread can ever use an fd number that was reused elsewhere.
* The client->server stream is framed into MySQL packets (3-byte little-endian
  length, 1-byte sequence id, payload) and only whole packets are forwarded, so
  a fault decision always sees a whole request, however TCP split it.
  A request is a client packet with sequence id 0; the handshake never uses 0
  from the client side (auth response is 1, auth-switch continues 3, 5, ...), so
  it passes through untouched without any special casing.
* The server->client stream is forwarded as raw bytes, except while a
  ``drop_after_request`` waits for the reply: then it is framed just far enough
  to know one whole reply packet has arrived.

Caveats: if the client negotiates TLS or protocol compression the stream can
no longer be framed; such a connection is treated as opaque (drop_* faults never
match it, the other modes still apply). Requests that have no reply
(COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) are never picked as a drop
target, so ``drop_after_request`` cannot wait forever for a reply that never
comes. ``delay_replies`` holds back each read from the server, so a reply that
arrives in several TCP reads may be held a multiple of ``seconds``.
"""

from __future__ import annotations

import enum
import socket
import threading
import time
from types import TracebackType
from typing import Callable, Optional

__all__ = ["FaultProxy"]

_HEADER = 4  # 3-byte payload length + 1-byte sequence id
_CLIENT_COMPRESS = 0x0000_0020
_CLIENT_SSL = 0x0000_0800
_CLIENT_ZSTD_COMPRESSION = 0x0400_0000
# Commands the server never answers; dropping "after the reply" is meaningless.
_NO_REPLY_COMMANDS = frozenset({0x01, 0x18, 0x19})  # QUIT, STMT_SEND_LONG_DATA, STMT_CLOSE
_UPSTREAM_CONNECT_TIMEOUT = 2.0
_STOP_BUDGET = 2.0


class _Kind(enum.Enum):
    PASS = "pass_through"
    DROP_AFTER = "drop_after_request"
    DROP_BEFORE = "drop_before_request"
    DELAY_AFTER = "delay_after_request"
    DELAY = "delay_replies"
    BLACKHOLE = "blackhole"


def _split_packet(buf: bytearray) -> Optional[bytes]:
    """Remove and return one whole packet (header included) from ``buf``, if present."""
    if len(buf) < _HEADER:
        return None
    size = _HEADER + int.from_bytes(buf[0:3], "little")
    if len(buf) < size:
        return None
    packet = bytes(buf[:size])
    del buf[:size]
    return packet


def _shutdown(sock: Optional[socket.socket]) -> None:
    # shutdown() rather than close(): it wakes a thread blocked in recv()/accept()
    # on this socket and sends FIN, while the fd stays valid for that thread.
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected / already shut down


class _Conn:
    """One proxied connection: a client socket and (unless blackholed) a server socket."""

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.server: Optional[socket.socket] = None
        self.closed = threading.Event()
        # Set by the client->server pump just *before* it forwards a request chosen
        # by drop_after_request, so the server->client pump always sees it in time.
        self.drop_on_reply = False
        self.crash_on_reply = False  # ...and whether the node dies with that reply
        self._lock = threading.Lock()
        self._users = 0  # pump threads still running; the last one closes the fds

    def acquire(self) -> None:
        with self._lock:
            self._users += 1

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users == 0
        if last:
            self.close()
            for sock in (self.client, self.server):
                if sock is not None:
                    sock.close()

    def close(self) -> None:
        """Cut both sides now (idempotent, callable from any thread)."""
        with self._lock:
            self.closed.set()
            server = self.server
        _shutdown(self.client)
        _shutdown(server)


class FaultProxy:
    """TCP proxy in front of one MySQL/MariaDB node, with switchable faults.

    Modes are exclusive and global: switching applies to every current and new
    connection from the next chunk of traffic on. ``refuse()`` is separate: it only
    closes the listener, and only ``pass_through()`` reopens it (same port).
    """

    def __init__(self, upstream: tuple[str, int], listen: tuple[str, int] = ("127.0.0.1", 0)) -> None:
        self.upstream = upstream
        self.address: tuple[str, int] = listen  # the real port is filled in by start()
        self.drops = 0  # drop_* and delay_after_request faults fired (counted when a request is picked)
        self.connections = 0  # connections accepted so far
        self._lock = threading.Lock()
        self._kind = _Kind.PASS
        self._match: Optional[bytes] = None
        self._remaining = 0
        self._crash = False
        self._delay = 0.0
        self._listener: Optional[socket.socket] = None
        self._conns: set[_Conn] = set()
        self._threads: list[threading.Thread] = []
        self._started = False
        self._stopped = False

    @property
    def endpoint(self) -> str:
        """``host:port`` of the listener: the node address to give MultiMaster."""
        host, port = self.address
        return f"{host}:{port}"

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> FaultProxy:
        with self._lock:
            if self._started:
                raise RuntimeError("FaultProxy already started")
            self._started = True
            self._open_listener()
        return self

    def stop(self) -> None:
        """Close the listener and every connection; join all threads (bounded)."""
        with self._lock:
            self._stopped = True
            listener, self._listener = self._listener, None
            threads = list(self._threads)
        self._close_listener(listener)
        self.kill_connections()
        deadline = time.monotonic() + _STOP_BUDGET
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    # --------------------------------------------------------------------- modes

    def pass_through(self) -> None:
        """Forward everything; also reopen the listener if refuse() closed it."""
        with self._lock:
            self._set_mode(_Kind.PASS)
            if self._started and not self._stopped and self._listener is None:
                self._open_listener()

    def drop_after_request(self, match: Optional[bytes] = None, count: int = 1, crash: bool = False) -> None:
        """Forward the next matching request, discard its reply, cut the connection.
        With ``crash``, the node dies right then (see ``crash()``)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._set_mode(_Kind.DROP_AFTER, match=match, remaining=count, crash=crash)

    def drop_before_request(self, match: Optional[bytes] = None, count: int = 1, crash: bool = False) -> None:
        """Swallow the next matching request and cut the connection.
        With ``crash``, the node dies right then (see ``crash()``)."""
        if count < 1:
            raise ValueError("count must be >= 1")
        with self._lock:
            self._set_mode(_Kind.DROP_BEFORE, match=match, remaining=count, crash=crash)

    def delay_after_request(self, seconds: float, match: Optional[bytes] = None) -> None:
        """Forward the next matching request, then behave as ``delay_replies(seconds)``:
        its reply, and every reply after it on any connection, is held back.

        The switch happens before the request is forwarded, so the reply can never
        slip through; until then everything passes, new connections included.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self._set_mode(_Kind.DELAY_AFTER, match=match, remaining=1, delay=seconds)

    def delay_replies(self, seconds: float) -> None:
        """Hold back server->client data ``seconds`` before forwarding it."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        with self._lock:
            self._set_mode(_Kind.DELAY, delay=seconds)

    def blackhole(self) -> None:
        """Behave like a hung node: read and discard, forward nothing, close nothing.

        Traffic discarded mid-stream loses the packet framing, so a connection
        that saw blackhole traffic is never picked for drop_* faults afterwards.
        Connections accepted while blackholed never get an upstream at all.
        """
        with self._lock:
            self._set_mode(_Kind.BLACKHOLE)

    def refuse(self) -> None:
        """Close the listening socket so connects get ECONNREFUSED."""
        with self._lock:
            listener, self._listener = self._listener, None
        self._close_listener(listener)

    def kill_connections(self) -> None:
        """Cut every open proxied connection now."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.close()

    def crash(self) -> None:
        """What kill -9 does to a node: refuse every new connection, cut every open one (in
        that order, so a client that sees its connection end finds the node refusing).
        ``pass_through()`` brings it back, as a restart would."""
        self.refuse()
        self.kill_connections()

    # ------------------------------------------------------------ mode internals

    def _set_mode(
        self,
        kind: _Kind,
        match: Optional[bytes] = None,
        remaining: int = 0,
        delay: float = 0.0,
        crash: bool = False,
    ) -> None:
        # Caller holds self._lock.
        self._kind, self._match, self._remaining, self._delay = kind, match, remaining, delay
        self._crash = crash

    def _snapshot(self) -> tuple[_Kind, float]:
        with self._lock:
            return self._kind, self._delay

    def _claim_drop(self, payload: bytes) -> tuple[Optional[_Kind], bool]:
        """Decide, for one whole request, whether a drop_* or delay_after_request fault takes it,
        and whether the node dies with it (``crash``).

        The budget is claimed under the lock, so ``count`` is exact even when
        several connections race for it.
        """
        with self._lock:
            if self._kind not in (_Kind.DROP_AFTER, _Kind.DROP_BEFORE, _Kind.DELAY_AFTER):
                return None, False
            if not payload or payload[0] in _NO_REPLY_COMMANDS:
                return None, False
            if self._match is not None and self._match not in payload:
                return None, False
            kind, crash = self._kind, self._crash
            self.drops += 1
            if kind is _Kind.DELAY_AFTER:
                # From now on a slow node: set before the request is forwarded.
                self._set_mode(_Kind.DELAY, delay=self._delay)
                return None, False
            self._remaining -= 1
            if self._remaining <= 0:
                self._set_mode(_Kind.PASS)
            return kind, crash

    # ------------------------------------------------------------------ listener

    def _open_listener(self) -> None:
        # Caller holds self._lock. create_server sets SO_REUSEADDR, which is what
        # lets pass_through() rebind the same port while accepted connections
        # (or TIME_WAIT leftovers) still use it.
        listener = socket.create_server(self.address)
        self.address = listener.getsockname()[:2]
        self._listener = listener
        self._spawn(self._accept_loop, listener, name="faultproxy-accept")

    @staticmethod
    def _close_listener(listener: Optional[socket.socket]) -> None:
        if listener is None:
            return
        _shutdown(listener)  # wakes the accept thread (accept() fails with EINVAL)
        listener.close()  # pending, not yet accepted connects get RST

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener shut down by refuse() or stop()
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(client)
            with self._lock:
                if self._stopped:
                    client.close()
                    return
                self.connections += 1
                self._conns.add(conn)
                blackholed = self._kind is _Kind.BLACKHOLE
                conn.acquire()
                # The upstream connect happens on the pump thread so a slow or
                # dead upstream never stalls accepting (or stop()).
                self._spawn(self._serve, conn, blackholed, name="faultproxy-c2s")

    def _spawn(self, target: Callable[..., None], *args: object, name: str) -> None:
        # Caller holds self._lock. Finished threads are pruned so a long test
        # session does not accumulate them.
        self._threads = [t for t in self._threads if t.is_alive()]
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # --------------------------------------------------------------------- pumps

    def _serve(self, conn: _Conn, blackholed: bool) -> None:
        try:
            if not blackholed:
                try:
                    server = socket.create_connection(self.upstream, timeout=_UPSTREAM_CONNECT_TIMEOUT)
                except OSError:
                    return  # upstream down: the client just sees its connection close
                server.settimeout(None)
                server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with conn._lock:
                    conn.server = server
                if conn.closed.is_set():  # killed while we were connecting
                    _shutdown(server)
                    return
                with self._lock:
                    conn.acquire()
                    self._spawn(self._pump_server, conn, name="faultproxy-s2c")
            self._pump_client(conn)
        finally:
            self._finish(conn)

    def _finish(self, conn: _Conn) -> None:
        conn.close()
        with self._lock:
            self._conns.discard(conn)
        conn.release()

    def _pump_client(self, conn: _Conn) -> None:
        """client -> server: frame packets, pick drop targets, forward whole packets."""
        buf = bytearray()
        framed = True  # False once TLS/compression or blackhole makes framing impossible
        first = True
        while True:
            try:
                data = conn.client.recv(65536)
            except OSError:
                return
            if not data:
                return
            kind, _ = self._snapshot()
            if kind is _Kind.BLACKHOLE or conn.server is None:
                framed = False
                buf.clear()
                continue  # read and discard: a hung node
            server = conn.server
            try:
                if not framed:
                    server.sendall(data)
                    continue
                buf += data
                while framed:
                    packet = _split_packet(buf)
                    if packet is None:
                        break
                    payload = packet[_HEADER:]
                    if first:
                        first = False
                        # The first client packet is the auth response (or SSLRequest);
                        # its capability flags tell whether the stream stays plain.
                        caps = int.from_bytes(payload[:4], "little")
                        if caps & (_CLIENT_SSL | _CLIENT_COMPRESS | _CLIENT_ZSTD_COMPRESSION):
                            framed = False
                            packet += bytes(buf)  # e.g. a TLS ClientHello in the same read
                            buf.clear()
                    elif packet[3] == 0:
                        fault, crash = self._claim_drop(payload)
                        if fault is _Kind.DROP_BEFORE:
                            if crash:
                                self.crash()
                            return  # never forwarded; _finish() cuts both sides
                        if fault is _Kind.DROP_AFTER:
                            conn.crash_on_reply = crash
                            conn.drop_on_reply = True
                    server.sendall(packet)
            except OSError:
                return

    def _pump_server(self, conn: _Conn) -> None:
        """server -> client: raw bytes, subject to delay/blackhole/drop-after."""
        reply = bytearray()
        try:
            server = conn.server
            assert server is not None
            while True:
                try:
                    data = server.recv(65536)
                except OSError:
                    return
                if not data:
                    if self._snapshot()[0] is _Kind.BLACKHOLE:
                        conn.closed.wait()  # a hung node does not close on its client
                    return
                if conn.drop_on_reply:
                    reply += data
                    if _split_packet(reply) is not None:
                        if conn.crash_on_reply:
                            self.crash()
                        return  # whole reply packet seen and discarded; _finish() cuts both
                    continue
                kind, delay = self._snapshot()
                if kind is _Kind.BLACKHOLE:
                    continue
                if kind is _Kind.DELAY and conn.closed.wait(delay):
                    return  # killed while holding the data back
                try:
                    conn.client.sendall(data)
                except OSError:
                    return
        finally:
            self._finish(conn)
