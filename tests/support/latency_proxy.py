"""An HTTP proxy on 127.0.0.1 that puts a simulated network round trip in front of a loopback
server (for benchmarks): every request waits half a round trip on the way in and its response
half a round trip on the way out, and a new client connection pays one more round trip (the TCP
handshake a loopback connect skips; a real KMS endpoint adds TLS on top, left out here).

moto answers every request with ``Connection: close``; a real KMS endpoint keeps connections
open, so the proxy keeps each client connection open (HTTP/1.1, requests one at a time, bodies
by Content-Length, as the AWS SDKs send them) and opens a fresh loopback connection to the
server per request.
"""

from __future__ import annotations

import re
import socket
import threading
import time

_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
_CONNECTION = re.compile(rb"\r\nconnection:[^\r]*", re.I)


class LatencyProxy:
    def __init__(self, target_port: int, rtt: float = 0.020) -> None:
        self.target_port = target_port
        self.rtt = rtt
        self.connections = 0
        self.requests = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.port = self._sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(client)
        handshake = self.rtt
        with client:
            while True:
                request = reader.message()
                if request is None:
                    return
                self.requests += 1
                time.sleep(self.rtt / 2 + handshake)
                handshake = 0.0
                response = self._forward(request)
                if response is None:
                    return
                time.sleep(self.rtt / 2)
                try:
                    client.sendall(response)
                except OSError:
                    return

    def _forward(self, request: bytes) -> bytes | None:
        try:
            with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
                upstream.sendall(request)
                response = _Reader(upstream).message()
        except OSError:
            return None
        if response is None:
            return None
        head, sep, body = response.partition(b"\r\n\r\n")
        head = _CONNECTION.sub(b"", head) + b"\r\nConnection: keep-alive"
        return head + sep + body


class _Reader:
    """HTTP/1.1 messages off a socket, one at a time (the body by Content-Length)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        try:
            chunk = self.sock.recv(65536)
        except OSError:
            chunk = b""
        self.buf += chunk
        return bool(chunk)

    def message(self) -> bytes | None:
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                return None
        end = self.buf.index(b"\r\n\r\n") + 4
        m = _LENGTH.search(self.buf[:end])
        total = end + (int(m.group(1)) if m else 0)
        while len(self.buf) < total:
            if not self._fill():
                return None
        message, self.buf = self.buf[:total], self.buf[total:]
        return message
