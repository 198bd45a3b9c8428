"""`minimize` cuts a failing finding to the fewest inputs that still show it."""

from __future__ import annotations

import pytest

from conformance.driver import run_session
from conformance.findings import Finding, Violation
from conformance.minimize import minimize
from conformance.reference import FAULTS, ReferenceServer
from conformance.rules import Verdict
from conformance.runner import Target
from conformance.state import SessionState

MESSAGE = b"Subject: minimize\r\n\r\nbody\r\n.\r\n"


def _fail(target: Target, inputs: list[bytes]) -> Finding:
    remaining = list(inputs)

    def choose(state: SessionState) -> bytes | None:
        return remaining.pop(0) if remaining else None

    with pytest.raises(Violation) as raised:
        run_session(target, choose, fail_at=Verdict.MUST)
    return raised.value.finding


def _inputs(finding: Finding) -> list[bytes]:
    return [entry.data for entry in finding.transcript if entry.direction == "C"]


def test_minimize_drops_whole_transaction() -> None:
    inputs = [
        b"EHLO client.conformance.test\r\n",
        b"MAIL FROM:<a@conformance.test>\r\n",
        b"RCPT TO:<b@conformance.test>\r\n",
        b"DATA\r\n",
        MESSAGE,
        b"NOOP\r\n",
    ]
    with ReferenceServer(FAULTS["noop-not-recognized"]) as server:
        target = Target(server.host, server.port, timeout=2.0)
        finding = _fail(target, inputs)
        assert finding.commands_sent == 6
        shortest = minimize(target, finding)
    assert _inputs(shortest) == [b"NOOP\r\n"]
    assert shortest.key == finding.key
    assert shortest.failed


def test_minimize_keeps_needed_inputs() -> None:
    inputs = [
        b"NOOP\r\n",
        b"EHLO client.conformance.test\r\n",
        b"HELP\r\n",
        b"MAIL FROM:<a@conformance.test>\r\n",
        b"RSET\r\n",
        b"RCPT TO:<b@conformance.test>\r\n",
    ]
    with ReferenceServer(FAULTS["rset-keeps-transaction"]) as server:
        target = Target(server.host, server.port, timeout=2.0)
        finding = _fail(target, inputs)
        shortest = minimize(target, finding)
    assert _inputs(shortest) == [
        b"EHLO client.conformance.test\r\n",
        b"MAIL FROM:<a@conformance.test>\r\n",
        b"RSET\r\n",
        b"RCPT TO:<b@conformance.test>\r\n",
    ]


def test_minimize_stops_at_replay_budget() -> None:
    inputs = [b"HELP\r\n"] * 6 + [b"NOOP\r\n"]
    with ReferenceServer(FAULTS["noop-not-recognized"]) as server:
        target = Target(server.host, server.port, timeout=2.0)
        finding = _fail(target, inputs)
        unchanged = minimize(target, finding, max_replays=0)
        one_cut = minimize(target, finding, max_replays=1)
    assert unchanged == finding
    # The first cut tries the last six inputs, NOOP among them.
    assert one_cut == finding


def test_minimize_skips_misbehaving_target() -> None:
    finding = Finding(
        verdict=Verdict.MISBEHAVED,
        section="",
        reason="no reply within 2 s",
        command="NOOP",
        expected=(),
        actual="no reply",
    )
    # The target is never contacted: nothing listens on it.
    assert minimize(Target("127.0.0.1", 9, timeout=0.1), finding) is finding


def test_minimize_stops_when_target_unreachable() -> None:
    with ReferenceServer(FAULTS["noop-not-recognized"]) as server:
        target = Target(server.host, server.port, timeout=2.0)
        finding = _fail(target, [b"HELP\r\n", b"NOOP\r\n"])
    # The server has stopped, so the first replay cannot connect.
    assert minimize(target, finding) is finding
