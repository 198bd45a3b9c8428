"""Command-line options of the pytest plugin, and their validation.

Every value is checked before any test runs; a bad one raises
`pytest.UsageError` with the option, the value and the expected form.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.commands import is_domain, is_mailbox
from conformance.runner import Target
from conformance.waivers import Waiver, WaiverFileError, load_waivers
from strategies.commands import Profile

#: Hypothesis examples per property when --smtp-examples is not given.
DEFAULT_EXAMPLES = 60
#: Examples per property in the certification profile, unless given.
CERTIFICATION_EXAMPLES = 200
PROFILES = ("default", "certification")


@dataclass(frozen=True)
class SuiteOptions:
    """The validated command-line options of one run.

    Attributes:
        target: the server under test, or None for the embedded one.
        strict: SHOULD deviations fail too.
        profile: names and addresses the sessions use.
        examples: Hypothesis examples per property.
        timeout: the --smtp-timeout value, in seconds.
        reply_limit: the --smtp-reply-limit value, in seconds.
        settings_profile: "default" or "certification".
        report_dir: where the run writes its report, or None for the default.
        waivers: known deviations that do not fail the run.
        strict_waivers: unused waivers fail the run.
    """

    target: Target | None
    strict: bool
    profile: Profile
    examples: int
    timeout: float
    reply_limit: float = 120.0
    settings_profile: str = "default"
    report_dir: Path | None = None
    waivers: tuple[Waiver, ...] = ()
    strict_waivers: bool = False


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("smtp-conformance", "SMTP conformance suite")
    group.addoption(
        "--target",
        metavar="HOST:PORT",
        help="SMTP server to check, as HOST:PORT or [IPV6-ADDRESS]:PORT; without "
        "it the suite starts an embedded aiosmtpd server on a free 127.0.0.1 port",
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
        "--smtp-reply-limit",
        metavar="SECONDS",
        default="120",
        help="seconds one whole reply may take even while bytes keep arriving "
        "(default 120)",
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
        help=f"Hypothesis examples (sessions) per property (default "
        f"{DEFAULT_EXAMPLES}, or {CERTIFICATION_EXAMPLES} in the certification "
        "profile)",
    )
    group.addoption(
        "--smtp-profile",
        metavar="NAME",
        default="default",
        help="settings profile: 'default', or 'certification' (derandomised, "
        "no example database, a larger budget: two runs against the same "
        "server give the same findings)",
    )
    group.addoption(
        "--report-dir",
        metavar="DIR",
        help="directory for report.json, report.html and replay files "
        "(default reports/<target>-<UTC time>)",
    )
    group.addoption(
        "--waivers",
        metavar="FILE",
        help="TOML file of known deviations that are reported but do not fail",
    )
    group.addoption(
        "--strict-waivers",
        action="store_true",
        help="fail the run when a waiver matched no finding",
    )


def parse_target(value: str, timeout: float, reply_limit: float = 120.0) -> Target:
    """Parse "host:port" or "[v6-address]:port" into a `Target`.

    Raises:
        pytest.UsageError: the value is not of that form.
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]+)|([^:\s\[\]]+):([0-9]+)", value)
    hint = (
        "expected HOST:PORT, for example --target 127.0.0.1:2525, or "
        "[ADDRESS]:PORT for IPv6, for example --target [::1]:2525"
    )
    if match is None:
        raise pytest.UsageError(f"--target {value!r} is invalid: {hint}")
    host = match.group(1) or match.group(3)
    port = int(match.group(2) or match.group(4))
    if not 1 <= port <= 65535:
        raise pytest.UsageError(
            f"--target {value!r} is invalid: port {port} is outside 1-65535"
        )
    return Target(host, port, timeout=timeout, reply_time_limit=reply_limit)


def _positive_number(option: str, value: str, kind: type[float] | type[int]) -> Any:
    try:
        number = kind(value)
    except ValueError:
        number = 0
    # NaN and infinity parse as floats too, and a timeout under 10 ms is a typo.
    too_small = number <= 0 or (kind is float and number < 0.01)
    if not math.isfinite(number) or too_small:
        unit = "a whole number" if kind is int else "a number of seconds, 0.01 or more,"
        raise pytest.UsageError(
            f"{option} {value!r} is invalid: expected {unit} greater than 0"
        )
    return number


def _profile(config: pytest.Config) -> Profile:
    mail_from = config.getoption("mail_from")
    recipients = config.getoption("rcpt") or ["recipient@conformance.test"]
    helo_name = config.getoption("helo_name")
    addresses = [("--mail-from", mail_from)] + [("--rcpt", r) for r in recipients]
    for option, address in addresses:
        # <Postmaster> without a domain is a legal forward-path (§4.1.1.3).
        postmaster = option == "--rcpt" and address.lower() == "postmaster"
        if not is_mailbox(address) and not postmaster:
            raise pytest.UsageError(
                f"{option} {address!r} is invalid: expected a mailbox such as "
                "user@example.test, without angle brackets"
            )
    if not is_domain(helo_name):
        raise pytest.UsageError(
            f"--helo-name {helo_name!r} is invalid: expected a domain such as "
            "client.example.test or an address literal such as [127.0.0.1]"
        )
    return Profile(helo_name, mail_from, tuple(recipients))


def _waivers(config: pytest.Config) -> tuple[Waiver, ...]:
    value = config.getoption("waivers")
    if not value:
        return ()
    try:
        return tuple(load_waivers(Path(value)))
    except WaiverFileError as error:
        raise pytest.UsageError(f"--waivers {value!r}: {error}") from None


def read_options(config: pytest.Config) -> SuiteOptions:
    """Validate the options of `config`.

    Raises:
        pytest.UsageError: an option has an invalid value.
    """
    timeout = _positive_number(
        "--smtp-timeout", config.getoption("smtp_timeout"), float
    )
    reply_limit = _positive_number(
        "--smtp-reply-limit", config.getoption("smtp_reply_limit"), float
    )
    settings_profile = config.getoption("smtp_profile")
    if settings_profile not in PROFILES:
        raise pytest.UsageError(
            f"--smtp-profile {settings_profile!r} is invalid: expected one of "
            f"{', '.join(PROFILES)}"
        )
    default_examples = (
        CERTIFICATION_EXAMPLES
        if settings_profile == "certification"
        else DEFAULT_EXAMPLES
    )
    examples = _positive_number(
        "--smtp-examples",
        config.getoption("smtp_examples") or str(default_examples),
        int,
    )
    value = config.getoption("target")
    if value is not None and not value.strip():
        raise pytest.UsageError(
            "--target is empty: give HOST:PORT, or leave the option out to "
            "check the embedded server"
        )
    report_dir = config.getoption("report_dir")
    return SuiteOptions(
        target=parse_target(value, timeout, reply_limit) if value else None,
        strict=bool(config.getoption("smtp_strict") or config.getoption("strict")),
        profile=_profile(config),
        examples=examples,
        timeout=timeout,
        reply_limit=reply_limit,
        settings_profile=settings_profile,
        report_dir=Path(report_dir) if report_dir else None,
        waivers=_waivers(config),
        strict_waivers=config.getoption("strict_waivers"),
    )
