"""The plaintext of ``exec-file`` served through a FIFO.

A writer thread opens the FIFO (which waits until the command opens it), writes the plaintext
and closes it, so the reader sees the end of the file. sops serves the FIFO once: a program
that opens the path a second time (to validate, then load) waits there for ever. sopsy serves
every open while the command runs, without ever giving one reader the plaintext twice: before
closing the FIFO a reader has, it puts a new FIFO at the path, so the reader at hand keeps the
old one (and sees its end) while the next open gets the new one. Readers that open the path at
the same moment share one pass, as with any pipe; a program that seeks, or takes the size
first, needs ``--no-fifo``. A command that never opens the FIFO is no problem:
:meth:`FifoServer.stop` opens it itself to release the waiting writer, which then writes nothing.
"""

from __future__ import annotations

import os
import threading


class FifoServer:
    def __init__(self, path: str, data: bytes) -> None:
        os.mkfifo(path, 0o600)
        self.path = path
        self._data = data
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="sopsy-fifo", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                fd = os.open(self.path, os.O_WRONLY)  # waits for a reader
            except OSError:
                return
            try:
                if self._stopping:
                    return
                self._write(fd)
                # the next open must find a fresh FIFO: this reader keeps the one it has
                os.unlink(self.path)
                os.mkfifo(self.path, 0o600)
            except OSError:
                return
            finally:
                os.close(fd)

    def _write(self, fd: int) -> None:
        view = memoryview(self._data)
        try:
            while view and not self._stopping:
                view = view[os.write(fd, view):]
        except BrokenPipeError:  # this reader went away early; the next one gets it all
            pass

    def stop(self) -> None:
        """Release a writer waiting for a reader, and let it finish."""
        self._stopping = True
        for _ in range(20):
            if not self._thread.is_alive():
                break
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:  # between two FIFOs, or gone: try again
                self._thread.join(0.05)
                continue
            self._thread.join(0.5)
            os.close(fd)
        self._data = b""
