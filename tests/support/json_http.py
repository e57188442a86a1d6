"""A tiny threaded JSON-over-HTTP(S) server on 127.0.0.1 for the test doubles of cloud key services.

The double supplies one function, ``(method, path, headers, body) -> (status, document, headers)``;
headers reach it with lower-case names, ``document`` goes back as JSON (nothing when empty).
"""

from __future__ import annotations

import json
import os
import ssl
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, dict[str, Any], dict[str, str]]
Handler = Callable[[str, str, dict[str, str], bytes], Answer]


class JsonServer:
    def __init__(self, handle: Handler, tls: tuple[bytes, bytes] | None = None) -> None:
        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, doc, extra = handle(self.command, self.path, headers, raw)
                out = json.dumps(doc).encode() if doc else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(out)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(out)

            do_PUT = do_POST = do_GET = do_PATCH = do_DELETE = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.scheme = "https" if tls else "http"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        if tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            with tempfile.TemporaryDirectory() as d:  # load_cert_chain reads files only
                cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
                for path, data in ((cert, tls[0]), (key, tls[1])):
                    with open(path, "wb") as fh:
                        fh.write(data)
                ctx.load_cert_chain(cert, key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self.port: int = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def address(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Served:
    """``start``/``stop`` and ``with`` for a double whose ``handle`` method a JsonServer serves
    (over TLS when the double has a ``tls`` pair)."""

    _server: JsonServer | None = None

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        raise NotImplementedError

    def start(self) -> Any:
        self._server = JsonServer(self.handle, getattr(self, "tls", None))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
