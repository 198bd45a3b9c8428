"""The pytest plugin: options, the target fixture, and how findings are shown.

Registered through the ``pytest11`` entry point, so installing the package is
enough. Options are checked in `pytest_configure`; a bad value or an unreachable
target stops the run with a usage error that names the option and the fix.

Failing properties show the shrunk transcript with the allowed replies instead
of a traceback. Findings that do not fail a property (SHOULD deviations without
--strict, and policy observations) travel to the controller as user properties
of each test report, which also works under pytest-xdist, and are summarised at
the end of the run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from conformance.commands import is_domain, is_mailbox
from conformance.driver import Chooser, SessionRecord, run_session
from conformance.embedded import EmbeddedServer
from conformance.errors import ConformanceError, TargetUnreachable
from conformance.findings import Finding, Violation
from conformance.rules import Verdict
from conformance.runner import Connection, Target
from strategies.commands import Profile

_FINDINGS_PROPERTY = "smtp_findings"
_STATS_PROPERTY = "smtp_stats"

#: Hypothesis examples per property when --smtp-examples is not given.
DEFAULT_EXAMPLES = 60


@dataclass(frozen=True)
class SuiteOptions:
    """The validated command-line options of one run."""

    target: Target | None
    strict: bool
    profile: Profile
    examples: int
    timeout: float


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("smtp-conformance", "SMTP conformance suite")
    group.addoption(
        "--target",
        metavar="HOST:PORT",
        help="SMTP server to check; without it the suite starts an embedded "
        "aiosmtpd server on a free 127.0.0.1 port",
    )
    # pytest 9 owns --strict (its own strict mode); the suite reads that flag as
    # well, so "pytest --strict" also fails on SHOULD deviations.
    group.addoption(
        "--smtp-strict",
        action="store_true",
        help="fail on SHOULD deviations too, not only on MUST violations "
        "(pytest's --strict turns this on as well)",
    )
    group.addoption(
        "--smtp-timeout",
        metavar="SECONDS",
        default="10",
        help="seconds the server may stay silent while connecting, before and "
        "within each reply, and before closing after 221 (default 10)",
    )
    group.addoption(
        "--mail-from",
        metavar="ADDRESS",
        default="sender@conformance.test",
        help="reverse-path used in MAIL FROM (default sender@conformance.test)",
    )
    group.addoption(
        "--rcpt",
        metavar="ADDRESS",
        action="append",
        help="forward-path the target accepts; repeat for several "
        "(default recipient@conformance.test)",
    )
    group.addoption(
        "--helo-name",
        metavar="DOMAIN",
        default="client.conformance.test",
        help="domain sent with EHLO and HELO (default client.conformance.test)",
    )
    group.addoption(
        "--smtp-examples",
        metavar="N",
        default=str(DEFAULT_EXAMPLES),
        help=f"Hypothesis examples (sessions) per property (default "
        f"{DEFAULT_EXAMPLES})",
    )


def parse_target(value: str, timeout: float) -> Target:
    """Parse "host:port" or "[v6-address]:port" into a `Target`.

    Raises:
        pytest.UsageError: the value is not of that form.
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]+):(\d+)", value)
    hint = "expected HOST:PORT, for example --target 127.0.0.1:2525"
    if match is None:
        raise pytest.UsageError(f"--target {value!r} is invalid: {hint}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise pytest.UsageError(
            f"--target {value!r} is invalid: port {port} is outside 1-65535"
        )
    return Target(host, port, timeout=timeout)


def _positive_number(option: str, value: str, kind: type[float] | type[int]) -> Any:
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if number <= 0:
        unit = "a whole number" if kind is int else "a number of seconds"
        raise pytest.UsageError(
            f"{option} {value!r} is invalid: expected {unit} greater than 0"
        )
    return number


def _options(config: pytest.Config) -> SuiteOptions:
    timeout = _positive_number(
        "--smtp-timeout", config.getoption("smtp_timeout"), float
    )
    examples = _positive_number(
        "--smtp-examples", config.getoption("smtp_examples"), int
    )
    mail_from = config.getoption("mail_from")
    recipients = config.getoption("rcpt") or ["recipient@conformance.test"]
    helo_name = config.getoption("helo_name")
    for option, address in [("--mail-from", mail_from)] + [
        ("--rcpt", r) for r in recipients
    ]:
        if not is_mailbox(address):
            raise pytest.UsageError(
                f"{option} {address!r} is invalid: expected a mailbox such as "
                "user@example.test, without angle brackets"
            )
    if not is_domain(helo_name):
        raise pytest.UsageError(
            f"--helo-name {helo_name!r} is invalid: expected a domain such as "
            "client.example.test or an address literal such as [127.0.0.1]"
        )
    value = config.getoption("target")
    target = parse_target(value, timeout) if value else None
    profile = Profile(helo_name, mail_from, tuple(recipients))
    strict = bool(config.getoption("smtp_strict") or config.getoption("strict"))
    return SuiteOptions(target, strict, profile, examples, timeout)


_options_key = pytest.StashKey[SuiteOptions]()
_summary_key = pytest.StashKey["Summary"]()


def pytest_configure(config: pytest.Config) -> None:
    options = _options(config)
    config.stash[_options_key] = options
    summary = Summary()
    config.stash[_summary_key] = summary
    config.pluginmanager.register(_SummaryCollector(summary), "smtp-summary")
    settings.register_profile(
        "smtp-conformance",
        max_examples=options.examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
        print_blob=False,
    )
    is_worker = hasattr(config, "workerinput")
    if options.target is not None and not is_worker:
        _check_reachable(options.target)


def _check_reachable(target: Target) -> None:
    try:
        with Connection.open(target) as connection:
            connection.read_reply()
    except TargetUnreachable as error:
        raise pytest.UsageError(
            f"--target {target.address}: {error}. Check that the server is "
            "running and listens on that address and port."
        ) from None
    except ConformanceError:
        # The server answers but its greeting is broken or late: that is a
        # finding for the properties to report, not a usage error.
        pass


def property_settings() -> settings:
    """Return the Hypothesis settings the conformance properties run with."""
    return settings.get_profile("smtp-conformance")


@dataclass
class SessionRunner:
    """Runs model-checked sessions for one property and keeps their findings.

    The `smtp` fixture provides one per test item. Call `run` once per
    Hypothesis example.
    """

    target: Target
    profile: Profile
    strict: bool
    findings: list[Finding] = field(default_factory=list)
    sessions: int = 0
    commands: int = 0

    def run(self, choose: Chooser, max_steps: int = 40) -> SessionRecord:
        """Run one session; raise `Violation` on a failing finding."""
        fail_at = Verdict.SHOULD if self.strict else Verdict.MUST
        self.sessions += 1
        try:
            record = run_session(
                self.target, choose, max_steps=max_steps, fail_at=fail_at
            )
        except Violation as violation:
            self.commands += violation.finding.commands_sent
            raise
        self.commands += record.commands
        self.findings.extend(record.findings)
        return record


@pytest.fixture(scope="session")
def smtp_target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The server under test: --target, or an embedded aiosmtpd server."""
    options = request.config.stash[_options_key]
    if options.target is not None:
        yield options.target
        return
    with EmbeddedServer() as server:
        yield Target(server.host, server.port, timeout=options.timeout)


@pytest.fixture
def smtp(
    request: pytest.FixtureRequest, smtp_target: Target
) -> Iterator[SessionRunner]:
    """A `SessionRunner` bound to the target and to this test item."""
    options = request.config.stash[_options_key]
    runner = SessionRunner(smtp_target, options.profile, options.strict)
    yield runner
    request.node.stash[_runner_key] = runner


_runner_key = pytest.StashKey[SessionRunner]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and call.excinfo is not None:
        violations = _violations(call.excinfo.value)
        if violations:
            report.longrepr = "\n\n".join(v.finding.format() for v in violations)
    if report.when == "teardown":
        runner = item.stash.get(_runner_key, None)
        if runner is not None:
            kept = _shortest_per_key(runner.findings)
            report.user_properties.append(
                (_FINDINGS_PROPERTY, json.dumps([f.to_json() for f in kept]))
            )
            report.user_properties.append(
                (_STATS_PROPERTY, json.dumps([runner.sessions, runner.commands]))
            )
    return report


def _violations(error: BaseException) -> list[Violation]:
    if isinstance(error, Violation):
        return [error]
    if isinstance(error, BaseExceptionGroup):
        found = []
        for inner in error.exceptions:
            found.extend(_violations(inner))
        return found
    return []


def _shortest_per_key(findings: list[Finding]) -> list[Finding]:
    shortest: dict[tuple[str, str, str], Finding] = {}
    for finding in findings:
        known = shortest.get(finding.key)
        if known is None or finding.commands_sent < known.commands_sent:
            shortest[finding.key] = finding
    return list(shortest.values())


@dataclass
class Summary:
    """Non-failing findings and counts gathered from every test report."""

    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    sessions: int = 0
    commands: int = 0

    def add(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _FINDINGS_PROPERTY:
                for data in json.loads(str(value)):
                    finding = Finding.from_json(data)
                    finding = _with_property(finding, report.nodeid)
                    self._keep(finding)
            elif name == _STATS_PROPERTY:
                sessions, commands = json.loads(str(value))
                self.sessions += sessions
                self.commands += commands

    def _keep(self, finding: Finding) -> None:
        known = self.findings.get(finding.key)
        if known is None or finding.commands_sent < known.commands_sent:
            self.findings[finding.key] = finding


def _with_property(finding: Finding, nodeid: str) -> Finding:
    name = nodeid.rsplit("::", 1)[-1]
    return Finding(**{**finding.__dict__, "property_name": name})


class _SummaryCollector:
    """Feeds every test report, local or from an xdist worker, to the summary."""

    def __init__(self, summary: Summary) -> None:
        self.summary = summary

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.summary.add(report)


def pytest_terminal_summary(
    terminalreporter: Any, exitstatus: int, config: pytest.Config
) -> None:
    summary = config.stash[_summary_key]
    if not summary.sessions and not summary.findings:
        return
    write = terminalreporter.write_line
    terminalreporter.section("SMTP conformance")
    options = config.stash[_options_key]
    target = options.target.address if options.target else "embedded aiosmtpd"
    write(
        f"target {target}: {summary.sessions} sessions, "
        f"{summary.commands} commands sent"
    )
    by_verdict = sorted(summary.findings.values(), key=lambda f: -f.verdict)
    if not by_verdict:
        write("no SHOULD deviations or policy observations")
    for finding in by_verdict:
        write("")
        write(f"[{finding.property_name}] " + finding.format())
    if os.environ.get("SMTP_CONFORMANCE_DEBUG"):
        write(repr(summary))
