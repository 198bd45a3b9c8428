"""A one-connection TCP server that plays a fixed script, for runner tests."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

#: A script gets the accepted socket and does whatever the test needs.
Script = Callable[[socket.socket], None]


class ScriptedServer:
    """Serve `script` to every connection on 127.0.0.1, each in a daemon thread."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_listening()
        self._thread.join(timeout=5)

    def stop_listening(self) -> None:
        """Close the listening socket, so new connections are refused."""
        self._stopped.set()
        self._listener.close()

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            # One thread per connection, so that a script that hangs does not
            # keep the next connection waiting.
            threading.Thread(target=self._play, args=(conn,), daemon=True).start()

    def _play(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self._script(conn)


def replies(*chunks: bytes, hold: float = 0.0) -> Script:
    """Send the greeting chunk, then one chunk per line received."""

    def script(conn: socket.socket) -> None:
        conn.sendall(chunks[0])
        reader = conn.makefile("rb")
        for chunk in chunks[1:]:
            if not reader.readline():
                return
            conn.sendall(chunk)
        time.sleep(hold)

    return script
