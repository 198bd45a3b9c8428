"""Search a target for its first violation, the way the properties do.

`hunt` runs the property plans one after another with Hypothesis, derandomised
and without the example database, and returns the first shrunk finding with
the time it took. The fault-finding tests and the benchmark use it to show that
every injected fault of the reference server is found, how fast, and how short
its transcript shrinks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, Verbosity, given, settings
from hypothesis import strategies as st

from conformance.certs import TestAuthority
from conformance.driver import run_session
from conformance.findings import Finding, Violation
from conformance.minimize import minimize
from conformance.reference import Fault, ReferenceServer
from conformance.rules import Verdict
from conformance.runner import Target
from strategies.commands import Profile
from strategies.extensions import secrets
from strategies.plans import EXTENSION_PLANS, PLANS, ExtensionPlan, Plan, starttls
from strategies.sessions import SEARCH_PHASES

#: Examples per plan in the first round of a hunt.
FIRST_ROUND = 25


@dataclass(frozen=True)
class HuntResult:
    """The first finding of a hunt, or None, and where and when it was found."""

    finding: Finding | None
    property_name: str
    seconds: float


def hunt(
    target: Target,
    profile: Profile | None = None,
    *,
    strict: bool = False,
    max_examples: int = 200,
    plans: dict[str, Plan] | None = None,
) -> HuntResult:
    """Run plans against `target` until one finds a failing finding.

    Plans run in two rounds: `FIRST_ROUND` examples each, then `max_examples`
    each. `plans` defaults to the base protocol's plans (`PLANS`); see
    `extension_plans` for those of the extensions.
    """
    profile = profile or Profile()
    plans = PLANS if plans is None else plans
    fail_at = Verdict.SHOULD if strict else Verdict.MUST
    start = time.perf_counter()
    # A first round with a small budget per plan finds what any plan finds
    # easily before one plan spends its whole budget on a fault it rarely hits.
    for budget in sorted({min(FIRST_ROUND, max_examples), max_examples}):
        for name, plan in plans.items():
            search = _search(target, profile, plan, fail_at, budget)
            try:
                search()
            except Violation as violation:
                finding = minimize(target, violation.finding, secrets(profile))
                seconds = time.perf_counter() - start
                return HuntResult(finding, name, seconds)
    return HuntResult(None, "", time.perf_counter() - start)


def _search(
    target: Target, profile: Profile, plan: Plan, fail_at: Verdict, max_examples: int
) -> Callable[[], None]:
    @settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        phases=SEARCH_PHASES,
    )
    @given(st.data())
    def search(data: st.DataObject) -> None:
        choose = plan(data, profile)
        run_session(
            target,
            choose,
            fail_at=fail_at,
            secrets=secrets(profile),
            while_waiting=getattr(choose, "draw_ahead", None),
        )

    return search


def extension_plans(*keywords: str, tls_first: bool = False) -> dict[str, Plan]:
    """Return the plans of the properties of these EHLO keywords.

    "STARTTLS" gives the STARTTLS plan; `tls_first` makes the others start
    with STARTTLS, for keywords a server offers only inside TLS.
    """
    chosen: dict[str, Plan] = {}
    for keyword in keywords:
        if keyword == "STARTTLS":
            chosen["starttls"] = starttls
            continue
        extension_plan = EXTENSION_PLANS[keyword]
        chosen[keyword.lower()] = _with_tls_first(extension_plan, tls_first)
    return chosen


def _with_tls_first(plan: ExtensionPlan, tls_first: bool) -> Plan:
    return lambda data, profile: plan(data, profile, tls_first)


#: Client timeout, in seconds, for hunting a fault. A server that keeps the
#: connection open after 221, or that loses pipelined commands, costs one
#: timeout per example, so those faults get a short one.
HUNT_TIMEOUT = 2.0
SHORT_HUNT_TIMEOUT = 0.25


def hunt_fault(fault: Fault, authority: TestAuthority | None = None) -> HuntResult:
    """Start the reference server with `fault` and hunt it as the tests do.

    Faults of extensions are hunted with the plans of those extensions
    (`Fault.plans`); STARTTLS faults get a server with a certificate from
    `authority`, a new test CA if None.
    """
    slow = fault.keeps_open_after_close or fault.drops_pipelined_input
    timeout = SHORT_HUNT_TIMEOUT if slow else HUNT_TIMEOUT
    plans = extension_plans(*fault.plans) if fault.plans else None
    if "STARTTLS" not in fault.plans:
        with ReferenceServer(fault) as server:
            target = Target(server.host, server.port, timeout=timeout)
            return hunt(target, strict=fault.strict, plans=plans)
    authority = authority or TestAuthority()
    context = authority.server_context()
    with (
        tempfile.TemporaryDirectory() as directory,
        ReferenceServer(fault, tls_context=context) as server,
    ):
        ca_file = authority.write(Path(directory)).ca
        target = Target(server.host, server.port, timeout, tls_ca=str(ca_file))
        return hunt(target, strict=fault.strict, plans=plans)
