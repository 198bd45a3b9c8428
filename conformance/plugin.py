"""The pytest plugin: the target fixture, how findings are shown and reported.

Registered through the ``pytest11`` entry point, so installing the package is
enough. Options are checked in `pytest_configure` (see conformance.options); a
bad value or an unreachable target stops the run with a usage error.

Failing properties show the shrunk transcript with the allowed replies instead
of a traceback, after the finding was re-run once to tell a deterministic
finding from a flaky one. Every finding travels to the controller with its
test report (conformance.summary), which also works under pytest-xdist. At the
end the controller prints a summary and writes report.json, report.html and a
replay file per failing or waived finding.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import Flaky

from conformance.driver import Chooser, SessionRecord, run_session
from conformance.embedded import TEST_PASSWORD, TEST_USER, EmbeddedServer
from conformance.errors import ConformanceError, TargetUnreachable, TlsFailed
from conformance.findings import Finding, Violation
from conformance.liveness import ALIVE, check_alive
from conformance.minimize import minimize
from conformance.offer import Offer, probe
from conformance.options import SuiteOptions, add_options, read_options
from conformance.replay import failed_replay, replay_inputs
from conformance.report import RunReport, versions, write_report
from conformance.rules import Verdict
from conformance.runner import Connection, Target
from conformance.summary import Summary, attach, shortest_per_key
from conformance.waivers import Waiver
from strategies.commands import Profile
from strategies.extensions import secrets
from strategies.sessions import SEARCH_PHASES

#: Seconds to wait for a reply once the target has hung in this property.
HUNG_TIMEOUT = 0.25

_options_key = pytest.StashKey[SuiteOptions]()
_summary_key = pytest.StashKey[Summary]()
_started_key = pytest.StashKey[datetime]()
_report_path_key = pytest.StashKey[Path]()
_liveness_key = pytest.StashKey[dict[str, str]]()
_offer_key = pytest.StashKey[Offer | None]()

#: The marker of a property that needs an advertised service extension.
EXTENSION_MARKER = "smtp_extension"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    options = read_options(config)
    config.stash[_options_key] = options
    config.stash[_started_key] = datetime.now(UTC)
    summary = Summary()
    config.stash[_summary_key] = summary
    config.pluginmanager.register(summary, "smtp-summary")
    config.addinivalue_line(
        "markers",
        f"{EXTENSION_MARKER}(keyword): run only if the target's EHLO reply "
        "lists this service extension keyword, in plaintext or after STARTTLS",
    )
    _register_settings(options)
    is_worker = hasattr(config, "workerinput")
    config.stash[_liveness_key] = {}
    if options.target is not None and not is_worker:
        _check_reachable(options.target)
        _check_certificate(options.target, options.profile)
        config.stash[_liveness_key]["before"] = check_alive(options.target)


def _check_certificate(target: Target, profile: Profile) -> None:
    """Stop the run when STARTTLS works but the certificate cannot be verified.

    That is a matter of --tls-ca or --tls-no-verify, and every STARTTLS
    session would otherwise fail as if the server were at fault.
    """
    offer = probe(target, profile.helo_name)
    if offer is not None and offer.certificate_rejected:
        raise pytest.UsageError(f"--target {target.address}: {offer.tls_error}")


def _register_settings(options: SuiteOptions) -> None:
    certification = options.settings_profile == "certification"
    extra: dict[str, Any] = {"database": None} if certification else {}
    settings.register_profile(
        "smtp-conformance",
        max_examples=options.examples,
        deadline=None,
        derandomize=certification,
        **extra,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
        print_blob=False,
        phases=SEARCH_PHASES,
    )


def _check_reachable(target: Target) -> None:
    """Stop the run early when the target cannot be reached.

    With --implicit-tls a failed handshake stops the run too, because no
    session could get past it. STARTTLS is checked by `_check_certificate`.
    """
    try:
        with Connection.open(target) as connection:
            connection.read_reply()
    except TargetUnreachable as error:
        raise pytest.UsageError(
            f"--target {target.address}: {error}. Check that the server is "
            "running and listens on that address and port."
        ) from None
    except TlsFailed as error:
        raise pytest.UsageError(f"--target {target.address}: {error}") from None
    except ConformanceError:
        # The server accepts connections but its greeting is broken or late.
        # That is a finding for the properties to report, not a usage error.
        pass


def property_settings() -> settings:
    """Return the Hypothesis settings the conformance properties run with."""
    return settings.get_profile("smtp-conformance")


@dataclass(repr=False)
class SessionRunner:
    """Runs model-checked sessions for one property and keeps their findings.

    The `smtp` fixture provides one per test item. Call `run` once per
    Hypothesis example.
    """

    target: Target
    profile: Profile
    strict: bool
    property_name: str = ""
    waivers: tuple[Waiver, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    sessions: int = 0
    commands: int = 0
    banner: str = ""
    extensions: set[str] = field(default_factory=set)
    used_waivers: set[str] = field(default_factory=set)
    misbehaved: bool = False
    #: The property's extension is advertised only after STARTTLS.
    tls_first: bool = False
    #: The first failing finding, shown if Hypothesis cannot reproduce it.
    first_failure: Finding | None = None

    def __repr__(self) -> str:
        return f"SessionRunner({self.target.address}, {self.property_name!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        # Hypothesis prints the test's arguments when it replays a failure,
        # and prints a dataclass field by field unless it has this method.
        # With every finding so far, that text passed Hypothesis's 30 kB
        # warning limit, and under "-W error" (this project's setting) the
        # warning made the replay fail differently, reported as flaky.
        printer.text(repr(self))

    def run(self, choose: Chooser, max_steps: int = 40) -> SessionRecord:
        """Run one session; raise `Violation` on a failing finding.

        Once the target misbehaved (a timeout, an oversized reply), later
        sessions of this property wait at most `HUNG_TIMEOUT` seconds for a
        reply: shrinking against a hung server would otherwise cost a full
        timeout per attempt.
        """
        target = self.target
        if self.misbehaved:
            target = replace(
                target,
                timeout=min(target.timeout, HUNG_TIMEOUT),
                reply_time_limit=min(target.reply_time_limit, 4 * HUNG_TIMEOUT),
                timeout_hint=f"the suite waits only {HUNG_TIMEOUT:g} s once the "
                "target has hung earlier in the same property",
            )
        fail_at = Verdict.SHOULD if self.strict else Verdict.MUST
        self.sessions += 1
        record = SessionRecord()
        try:
            run_session(
                target,
                choose,
                max_steps=max_steps,
                fail_at=fail_at,
                waive=self.waiver_for,
                record=record,
                secrets=secrets(self.profile),
                while_waiting=getattr(choose, "draw_ahead", None),
            )
        except Violation as violation:
            self.first_failure = self.first_failure or violation.finding
            if violation.finding.verdict is Verdict.MISBEHAVED:
                self.misbehaved = True
            raise
        except TlsFailed as error:
            finding = Finding(
                verdict=Verdict.MISBEHAVED,
                section="RFC 3207 §4",
                reason=f"the TLS handshake after STARTTLS failed: {error}",
                command="STARTTLS",
                expected=(),
                actual="certificate rejected",
                failed=True,
            )
            raise Violation(finding) from None
        except TargetUnreachable as error:
            # The target accepted connections when the run began, so this is
            # a crash or a refusal mid-run: a finding, not a usage error.
            finding = Finding(
                verdict=Verdict.MISBEHAVED,
                section="",
                reason=f"the target stopped accepting connections after "
                f"{self.sessions - 1} sessions of this property: {error}",
                command="",
                expected=(),
                actual="connection refused",
                failed=True,
            )
            raise Violation(finding) from None
        finally:
            # Kept even when a violation, or Hypothesis stopping an example,
            # ends the session early: the findings seen before the failing
            # one are findings too.
            self.commands += record.commands
            self.findings.extend(record.findings)
            self.banner = self.banner or record.banner
            self.extensions |= record.extensions
        return record

    def waiver_for(self, finding: Finding) -> str:
        """Return the description of the waiver covering `finding`, or ""."""
        for waiver in self.waivers:
            if waiver.matches(finding, self.property_name):
                self.used_waivers.add(waiver.describe())
                return waiver.describe()
        return ""

    def stats(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "commands": self.commands,
            "banner": self.banner,
            "extensions": sorted(self.extensions),
            "waivers": sorted(self.used_waivers),
        }


@pytest.fixture(scope="session")
def smtp_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """Provide the server under test: --target, or an embedded aiosmtpd server."""
    options = request.config.stash[_options_key]
    if options.target is not None:
        yield options.target
        return
    certificates = tmp_path_factory.mktemp("embedded-tls")
    # aiosmtpd logs a warning for every unknown command and, in 1.4.6, a
    # deprecation warning for every successful AUTH; in the report of a
    # failing property they would bury the transcript. Its errors still show.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    with EmbeddedServer() as server:
        files = server.authority.write(certificates)
        yield Target(
            server.host,
            server.port,
            options.timeout,
            options.reply_limit,
            tls_ca=str(files.ca),
            tls_verify=options.tls_verify,
        )


def session_profile(options: SuiteOptions) -> Profile:
    """Return the profile the sessions use.

    Without --target and --auth-user, AUTH uses the embedded server's test
    account.
    """
    profile = options.profile
    if options.target is None and profile.auth_user is None:
        profile = replace(profile, auth_user=TEST_USER, auth_password=TEST_PASSWORD)
    return profile


@pytest.fixture
def smtp(
    request: pytest.FixtureRequest, smtp_target: Target
) -> Iterator[SessionRunner]:
    """Provide a `SessionRunner` bound to the target and to this test item."""
    options = request.config.stash[_options_key]
    runner = SessionRunner(
        smtp_target,
        session_profile(options),
        options.strict,
        property_name=request.node.name,
        waivers=options.waivers,
    )
    marker = request.node.get_closest_marker(EXTENSION_MARKER)
    if marker is not None:
        keyword = str(marker.args[0])
        offer = _offer(request.config, smtp_target, options.profile)
        if offer is not None:
            reason = offer.skip_reason(keyword)
            if reason is not None:
                pytest.skip(reason)
            runner.tls_first = offer.requires_tls(keyword)
    request.node.stash[_runner_key] = runner
    yield runner


def _offer(config: pytest.Config, target: Target, profile: Profile) -> Offer | None:
    # One probe per process (per xdist worker), shared by every property.
    if _offer_key not in config.stash:
        config.stash[_offer_key] = probe(target, profile.helo_name)
    return config.stash[_offer_key]


_runner_key = pytest.StashKey[SessionRunner]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    runner = item.stash.get(_runner_key, None)
    if runner is None:
        return report
    if report.when == "call":
        failing = []
        if call.excinfo is not None:
            error = call.excinfo.value
            failing = [
                _rerun(runner.target, v.finding, runner.profile)
                for v in _violations(error)
            ]
            if failing:
                report.longrepr = "\n\n".join(f.format() for f in failing)
            elif isinstance(error, Flaky):
                # Hypothesis gave up, but the failure that started its search
                # is still a finding: it goes into the summary, the report and
                # a replay file like any other.
                first = runner.first_failure
                if first is not None:
                    first = _rerun(runner.target, first, runner.profile)
                    failing = [first]
                report.longrepr = _flaky_message(error, first)
        kept = failing + shortest_per_key(runner.findings)
        attach(report, kept, runner.stats())
    return report


def _rerun(target: Target, finding: Finding, profile: Profile) -> Finding:
    """Re-send a failing finding's inputs and note whether it came back.

    The finding is first cut to the fewest inputs that still show it
    (`minimize`). A finding that does not come back is reported as flaky,
    with the transcript of both sessions; it is never dropped. A short
    sanity session afterwards checks whether the target is still alive.
    """
    try:
        finding = minimize(target, finding, secrets(profile))
        inputs = tuple(e.data for e in finding.transcript if e.direction == "C")
        result = replay_inputs(
            target, inputs, finding.verdict.label, finding.section, secrets(profile)
        )
    except TargetUnreachable as error:
        # The target stopped accepting connections. The finding is kept, with
        # a note that gives the reason it could not be re-run.
        result = failed_replay(error)
    if result.reproduced:
        finding = replace(finding, reproduced="deterministic")
    else:
        finding = replace(finding, reproduced="flaky", rerun=result.transcript)
    return replace(finding, liveness=check_alive(target))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _flaky_message(error: Flaky, first: Finding | None) -> str:
    message = (
        "target misbehaved: the target answered the same commands differently "
        "when Hypothesis ran the session again, so no single transcript shows "
        "a failure. Its replies depend on more than the commands sent (timing, "
        "load, randomness, state kept between connections).\n"
        f"  Hypothesis reported: {type(error).__name__}"
    )
    if first is None:
        return message
    return f"{message}\n\nThe failure that started the search:\n{first.format()}"


def _violations(error: BaseException) -> list[Violation]:
    if isinstance(error, Violation):
        return [error]
    if isinstance(error, BaseExceptionGroup):
        found = []
        for inner in error.exceptions:
            found.extend(_violations(inner))
        return found
    return []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return
    summary = config.stash[_summary_key]
    if not summary.sessions:
        return
    options = config.stash[_options_key]
    if options.target is not None:
        config.stash[_liveness_key]["after"] = check_alive(options.target)
    unused = summary.unused_waivers(options.waivers)
    if unused and options.strict_waivers and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report = RunReport(_manifest(config, summary, unused), summary.findings())
    directory = options.report_dir or _default_report_dir(options)
    try:
        config.stash[_report_path_key] = write_report(report, directory)
    except OSError as error:
        config.stash[_report_path_key] = Path(f"not written: {error}")


def _replay_options(options: SuiteOptions) -> str:
    """Return the TLS and AUTH options a replay of this run needs."""
    target = options.target
    words = []
    if target is not None and target.tls_ca:
        words.append(f"--tls-ca={target.tls_ca}")
    if not options.tls_verify:
        words.append("--tls-no-verify")
    if target is not None and target.implicit_tls:
        words.append("--implicit-tls")
    if target is not None and target.server_name:
        words.append(f"--tls-server-name={target.server_name}")
    if options.profile.auth_user is not None:
        words.append(f"--auth-user {options.profile.auth_user}")
        words.append("(with SMTP_AUTH_PASSWORD set)")
    return "".join(f" {word}" for word in words)


def _elapsed(config: pytest.Config) -> float:
    return (datetime.now(UTC) - config.stash[_started_key]).total_seconds()


def _target_label(options: SuiteOptions) -> str:
    return options.target.address if options.target else "embedded aiosmtpd"


def _default_report_dir(options: SuiteOptions) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = _target_label(options).replace(" ", "-").replace(":", "_")
    return Path("reports") / f"{target}-{stamp}"


def _manifest(
    config: pytest.Config, summary: Summary, unused: list[str]
) -> dict[str, Any]:
    options = config.stash[_options_key]
    certification = options.settings_profile == "certification"
    seed = config.getoption("hypothesis_seed", None)
    return {
        "versions": versions(),
        "profile": options.settings_profile,
        "seed": "derived from each property's name (derandomize)"
        if certification
        else (seed or "random"),
        "examples_per_property": options.examples,
        "strict": options.strict,
        "target": _target_label(options),
        "tls": _tls_settings(options),
        # The user name only: the manifest never contains the password.
        "auth_user": session_profile(options).auth_user,
        "banner": summary.banner,
        "ehlo_keywords": sorted(summary.extensions),
        "policy_observations": summary.policy_observations(),
        "skipped": dict(sorted(summary.skipped.items())),
        "liveness": config.stash[_liveness_key],
        "waivers": [w.describe() for w in options.waivers],
        "unused_waivers": unused,
        "started": config.stash[_started_key].isoformat(timespec="seconds"),
        "ended": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(
            (datetime.now(UTC) - config.stash[_started_key]).total_seconds(), 1
        ),
        "connections": summary.sessions,
        "sessions": summary.sessions,
        "commands": summary.commands,
    }


def _tls_settings(options: SuiteOptions) -> dict[str, Any]:
    target = options.target
    if target is None:
        return {"ca": "the embedded server's test CA", "verify": options.tls_verify}
    return {
        "ca": target.tls_ca or "system default",
        "verify": target.tls_verify,
        "implicit": target.implicit_tls,
        "server_name": target.tls_server_name,
    }


def pytest_terminal_summary(
    terminalreporter: Any, exitstatus: int, config: pytest.Config
) -> None:
    summary = config.stash[_summary_key]
    if not summary.sessions:
        return
    write = terminalreporter.write_line
    terminalreporter.section("SMTP conformance")
    options = config.stash[_options_key]
    write(
        f"target {_target_label(options)}: {_count(summary.sessions, 'session')}, "
        f"{_count(summary.commands, 'command')} sent in {_elapsed(config):.1f} s"
    )
    findings = summary.findings()
    for finding in findings:
        if finding.failed:
            continue
        write("")
        status = f" (waived: {finding.waived})" if finding.waived else ""
        write(f"[{finding.property_name}]{status} " + finding.format())
    write("")
    counts = RunReport({}, findings).counts()
    write(
        "findings: "
        + (", ".join(f"{count} {level}" for level, count in counts.items()) or "none")
    )
    for name, reason in sorted(summary.skipped.items()):
        write(f"skipped {name}: {reason}")
    for waiver in summary.unused_waivers(options.waivers):
        write(f"unused waiver: {waiver}")
    for when, state in config.stash[_liveness_key].items():
        if state != ALIVE:
            write(f"target {when} the run: {state}")
    path = config.stash.get(_report_path_key, None)
    if path is not None:
        write(f"report: {path}")
        first = next((f for f in findings if f.failed or f.waived), None)
        if first is not None and options.target and path.name == "report.json":
            replay = sorted((path.parent / "replay").glob("*.smtp"))
            if replay:
                write(
                    f"replay the first finding: python -m conformance replay "
                    f"{replay[0]} --target {_target_label(options)}"
                    f"{_replay_options(options)}"
                )
