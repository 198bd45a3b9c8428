"""The suite finds every injected fault of the reference server, and passes
every legal policy, when it runs the same plans the properties run."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.certs import TestAuthority
from conformance.hunt import extension_plans, hunt, hunt_fault
from conformance.reference import FAULTS, Fault, Policy, ReferenceServer
from conformance.reference.server import DEFAULT_PASSWORD, DEFAULT_USER
from conformance.runner import Target
from strategies.commands import Profile
from strategies.plans import EXTENSION_PLANS

#: Legal choices RFC 5321 leaves to the server; none may produce a finding.
POLICIES = {
    "helo-required": Policy(),
    "helo-optional": Policy(helo_required=False),
    "vrfy-not-implemented": Policy(vrfy_code=502),
    "421-after-3-errors": Policy(error_limit=3),
    "close-after-3-errors": Policy(close_after_errors=3),
    "recipients-rejected": Policy(reject_recipients=True),
    "bare-line-ends-rejected": Policy(reject_bare_line_ends=True),
    "no-extensions": Policy(extensions=()),
}

#: EHLO keywords with an extension plan that runs without TLS: every plan
#: of EXTENSION_PLANS, so that a new plan is checked against every policy.
PLAIN_KEYWORDS = tuple(EXTENSION_PLANS)


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority()


@pytest.fixture(scope="module")
def ca_file(authority: TestAuthority, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return authority.write(tmp_path_factory.mktemp("tls")).ca


def _tls_server(
    authority: TestAuthority, fault: Fault | None = None, policy: Policy | None = None
) -> ReferenceServer:
    return ReferenceServer(fault, policy, tls_context=authority.server_context())


def _target(
    server: ReferenceServer, timeout: float = 2.0, ca_file: Path | None = None
) -> Target:
    tls_ca = None if ca_file is None else str(ca_file)
    return Target(server.host, server.port, timeout=timeout, tls_ca=tls_ca)


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(FAULTS.values()), ids=lambda f: f.name)
def test_fault_is_found_and_shrunk(fault: Fault, authority: TestAuthority) -> None:
    result = hunt_fault(fault, authority)

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


#: Profiles for the extension runs: credentials the server rejects, and the
#: ones it accepts, so AUTH both fails and succeeds.
PROFILES = {
    "unknown-user": Profile(),
    "known-user": Profile(auth_user=DEFAULT_USER, auth_password=DEFAULT_PASSWORD),
}


@pytest.mark.slow
@pytest.mark.parametrize("profile", list(PROFILES.values()), ids=list(PROFILES))
def test_all_extensions_pass_extension_plans(profile: Profile) -> None:
    with ReferenceServer() as server:
        result = hunt(
            _target(server),
            profile,
            strict=True,
            max_examples=40,
            plans=extension_plans(*PLAIN_KEYWORDS),
        )

    assert result.finding is None, result.finding and result.finding.format()


@pytest.mark.slow
def test_small_size_limit_passes_size_plan() -> None:
    # Oversized content then fits in a session, and gets 552 at its end.
    policy = Policy(size_limit=2000)
    with ReferenceServer(policy=policy) as server:
        result = hunt(
            _target(server), strict=True, max_examples=40, plans=extension_plans("SIZE")
        )

    assert result.finding is None, result.finding and result.finding.format()


@pytest.mark.slow
def test_starttls_server_passes_extension_plans(
    authority: TestAuthority, ca_file: Path
) -> None:
    with _tls_server(authority) as server:
        result = hunt(
            _target(server, ca_file=ca_file),
            strict=True,
            max_examples=40,
            plans=extension_plans("STARTTLS", *PLAIN_KEYWORDS),
        )

    assert result.finding is None, result.finding and result.finding.format()


@pytest.mark.slow
def test_auth_after_tls_passes_auth_plan(
    authority: TestAuthority, ca_file: Path
) -> None:
    policy = Policy(auth_after_tls=True)
    profile = PROFILES["known-user"]
    with _tls_server(authority, policy=policy) as server:
        result = hunt(
            _target(server, ca_file=ca_file),
            profile,
            strict=True,
            max_examples=40,
            plans=extension_plans("AUTH", tls_first=True),
        )

    assert result.finding is None, result.finding and result.finding.format()
