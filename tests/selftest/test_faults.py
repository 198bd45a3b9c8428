"""The suite finds every injected fault of the reference server, and passes
every legal policy, when it runs the same plans the properties run."""

from __future__ import annotations

import pytest

from conformance.hunt import hunt
from conformance.reference import FAULTS, Fault, Policy, ReferenceServer
from conformance.runner import Target

#: Legal choices RFC 5321 leaves to the server; none may produce a finding.
POLICIES = {
    "helo-required": Policy(),
    "helo-optional": Policy(helo_required=False),
    "vrfy-not-implemented": Policy(vrfy_code=502),
    "421-after-3-errors": Policy(error_limit=3),
    "close-after-3-errors": Policy(close_after_errors=3),
    "recipients-rejected": Policy(reject_recipients=True),
    "bare-line-ends-rejected": Policy(reject_bare_line_ends=True),
}


def _target(server: ReferenceServer, timeout: float = 2.0) -> Target:
    return Target(server.host, server.port, timeout=timeout)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=lambda f: f.name)
def test_fault_is_found_and_shrunk(fault: Fault) -> None:
    # A server that keeps the connection open after 221 costs one timeout per
    # example, so that fault runs with a short one.
    timeout = 0.25 if fault.keeps_open_after_close else 2.0
    with ReferenceServer(fault) as server:
        result = hunt(_target(server, timeout), strict=fault.strict)

    assert result.finding is not None, f"{fault.name} was not found"
    assert result.finding.commands_sent <= fault.shortest + 1, result.finding.format()


@pytest.mark.parametrize(
    "fault", [f for f in FAULTS.values() if f.strict], ids=lambda f: f.name
)
def test_should_fault_passes_without_strict(fault: Fault) -> None:
    with ReferenceServer(fault) as server:
        result = hunt(_target(server), max_examples=40)

    assert result.finding is None, result.finding and result.finding.format()


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(POLICIES.values()), ids=list(POLICIES))
def test_legal_policy_passes(policy: Policy) -> None:
    with ReferenceServer(policy=policy) as server:
        result = hunt(_target(server), max_examples=40)

    assert result.finding is None, result.finding and result.finding.format()


def test_conforming_server_passes_strict() -> None:
    with ReferenceServer() as server:
        result = hunt(_target(server), strict=True, max_examples=40)

    assert result.finding is None, result.finding and result.finding.format()


def test_slow_replies_after_errors_pass() -> None:
    policy = Policy(error_delay=0.01)
    with ReferenceServer(policy=policy) as server:
        result = hunt(_target(server), max_examples=10)

    assert result.finding is None, result.finding and result.finding.format()
