"""A short sanity session that tells a live server from a crashed or wedged one.

A wrong reply and a dead server look alike from inside one session. Before and
after a run, and after a property fails, the plugin opens a fresh connection,
reads the greeting, sends NOOP and QUIT. If that works, the server is alive
and the finding is about its replies; if not, the report says the server
stopped answering.
"""

from __future__ import annotations

from conformance.errors import ConformanceError
from conformance.runner import Connection, Target

ALIVE = "alive"


def check_alive(target: Target) -> str:
    """Return "alive", or what went wrong in a greeting, NOOP, QUIT session."""
    try:
        with Connection.open(target) as connection:
            greeting = connection.read_reply()
            if greeting.code // 100 != 2:
                return f"greeted with {greeting.code} instead of 220"
            connection.send(b"NOOP\r\n")
            reply = connection.read_reply()
            connection.send(b"QUIT\r\n")
            connection.read_reply()
    except ConformanceError as error:
        return f"not answering: {error}"
    if reply.code == 421:
        return "answered NOOP with 421 (shutting down)"
    return ALIVE
