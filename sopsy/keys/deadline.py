"""A whole-request deadline for urllib: a server that sends one byte a second never trips a
per-read socket timeout, so each request's sockets are shut down when its time is up (as Go's
``http.Client.Timeout``, which sops's Vault client uses, bounds the whole exchange).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from typing import Any


class Deadline:
    """Shuts down every socket the request opened once ``seconds`` have passed."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def track(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            self._socks.append(sock)
            if self.expired:
                self._shut(sock)
        return sock

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _fire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                self._shut(sock)

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def handlers(self, tls_context: Any) -> list[urllib.request.BaseHandler]:
        """HTTP and HTTPS handlers whose connections report their sockets to this deadline."""
        deadline = self

        def tracked(http_class: Any) -> Any:
            class Tracked(http_class):  # type: ignore[misc,valid-type]
                def __init__(self, *args: Any, **kwargs: Any) -> None:
                    super().__init__(*args, **kwargs)
                    create: Any = getattr(self, "_create_connection", socket.create_connection)
                    self._create_connection = lambda *a, **k: deadline.track(create(*a, **k))
            return Tracked

        class Http(urllib.request.HTTPHandler):
            def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
                return super().do_open(tracked(http_class), req, **kwargs)

        class Https(urllib.request.HTTPSHandler):
            def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
                return super().do_open(tracked(http_class), req, **kwargs)

        return [Http(), Https(context=tls_context)]
