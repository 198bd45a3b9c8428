"""Command-line options of the pytest plugin, and their validation.

Every value is checked before any test runs; a bad one raises
`pytest.UsageError` with the option, the value and the expected form.
"""

from __future__ import annotations

import math
import os
import re
import ssl
from dataclasses import dataclass, replace
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
#: Environment variable read for the AUTH password when --auth-password is
#: absent, so that the password need not appear in the process list.
PASSWORD_VARIABLE = "SMTP_AUTH_PASSWORD"


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
        tls_verify: verify the server's certificate; False with
            --tls-no-verify. The TLS settings of a --target are in `target`,
            and this one applies to the embedded server too.
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
    tls_verify: bool = True


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
    group.addoption(
        "--tls-ca",
        metavar="FILE",
        help="PEM file of the CA certificates that verify the server's TLS "
        "certificate (default: the system's CA certificates)",
    )
    group.addoption(
        "--tls-no-verify",
        action="store_true",
        help="accept any TLS certificate, without checking its CA or names",
    )
    group.addoption(
        "--tls-server-name",
        metavar="NAME",
        help="name sent in TLS SNI and checked against the server's "
        "certificate (default: the --target host)",
    )
    group.addoption(
        "--implicit-tls",
        action="store_true",
        help="start TLS right after connecting, before the greeting (port 465 "
        "style), instead of only after STARTTLS",
    )
    group.addoption(
        "--auth-user",
        metavar="NAME",
        help="user name for AUTH; needs a password too",
    )
    group.addoption(
        "--auth-password",
        metavar="SECRET",
        help=f"password for AUTH. Without this option it is read from the "
        f"{PASSWORD_VARIABLE} environment variable, which keeps it out of the "
        "process list",
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
    user, password = _credentials(config)
    return Profile(
        helo_name,
        mail_from,
        tuple(recipients),
        auth_user=user,
        auth_password=password,
    )


def _credentials(config: pytest.Config) -> tuple[str | None, str | None]:
    """Return the AUTH user and password, both or neither.

    No message repeats the password, because usage errors reach the terminal.
    """
    user = config.getoption("auth_user")
    password = config.getoption("auth_password")
    source = "--auth-password"
    if password is None and os.environ.get(PASSWORD_VARIABLE):
        password = os.environ[PASSWORD_VARIABLE]
        source = PASSWORD_VARIABLE
    if user is None and password is None:
        return None, None
    if user is None:
        fix = "pass --auth-user NAME"
        if source == PASSWORD_VARIABLE:
            fix += f", or unset {PASSWORD_VARIABLE}"
        raise pytest.UsageError(f"{source} is set but --auth-user is missing: {fix}")
    if password is None:
        raise pytest.UsageError(
            f"--auth-user {user!r} needs a password: set the {PASSWORD_VARIABLE} "
            "environment variable, or pass --auth-password SECRET"
        )
    if not user or any(char in user for char in "\0\r\n"):
        raise pytest.UsageError(
            f"--auth-user {user!r} is invalid: expected a non-empty name without "
            "NUL, CR or LF"
        )
    if not password or any(char in password for char in "\0\r\n"):
        raise pytest.UsageError(
            f"the password from {source} is invalid: expected a non-empty "
            "password without NUL, CR or LF"
        )
    return user, password


def _check_ca_file(value: str) -> None:
    path = Path(value)
    if not path.is_file():
        problem = "no such file" if not path.exists() else "not a regular file"
        raise pytest.UsageError(
            f"--tls-ca {value!r} is invalid: {problem}. Pass the path of a PEM "
            "file of CA certificates, such as the ca.pem written by "
            "python -m conformance.certs"
        )
    try:
        ssl.create_default_context(cafile=value)
    except OSError as error:
        # ssl.SSLError is an OSError too, raised when no certificate loaded.
        reason = getattr(error, "reason", None) or error.strerror or str(error)
        raise pytest.UsageError(
            f"--tls-ca {value!r} is invalid: cannot load CA certificates from it "
            f"({reason}). Pass a readable PEM file of CA certificates"
        ) from None


def _tls_target(config: pytest.Config, target: Target | None) -> Target | None:
    """Apply the TLS options to `target`, after checking them."""
    ca_file = config.getoption("tls_ca")
    server_name = config.getoption("tls_server_name")
    implicit_tls = config.getoption("implicit_tls")
    verify = not config.getoption("tls_no_verify")
    if target is None:
        for option, value in [
            ("--tls-ca", ca_file),
            ("--tls-server-name", server_name),
            ("--implicit-tls", implicit_tls),
        ]:
            if value:
                raise pytest.UsageError(
                    f"{option} needs --target: the embedded server offers "
                    "STARTTLS with a certificate from its own CA, which the "
                    "suite trusts already"
                )
        return None
    if ca_file is not None and not verify:
        raise pytest.UsageError(
            "--tls-ca and --tls-no-verify exclude each other: --tls-no-verify "
            "accepts any certificate, so drop one of them"
        )
    if ca_file is not None:
        _check_ca_file(ca_file)
    if server_name is not None and not server_name.strip():
        raise pytest.UsageError(
            "--tls-server-name is empty: give the name the server's "
            "certificate lists, or leave the option out to use the --target host"
        )
    return replace(
        target,
        tls_ca=ca_file,
        tls_verify=verify,
        implicit_tls=implicit_tls,
        server_name=server_name,
    )


#: Waivers for the embedded aiosmtpd target, applied when neither --target nor
#: --waivers is given.
EMBEDDED_WAIVERS = Path(__file__).with_name("aiosmtpd-waivers.toml")


def _waivers(config: pytest.Config) -> tuple[Waiver, ...]:
    value = config.getoption("waivers")
    if not value and config.getoption("target") is None:
        return tuple(load_waivers(EMBEDDED_WAIVERS))
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
    target = parse_target(value, timeout, reply_limit) if value else None
    return SuiteOptions(
        target=_tls_target(config, target),
        strict=bool(config.getoption("smtp_strict") or config.getoption("strict")),
        profile=_profile(config),
        examples=examples,
        timeout=timeout,
        reply_limit=reply_limit,
        settings_profile=settings_profile,
        report_dir=Path(report_dir) if report_dir else None,
        waivers=_waivers(config),
        strict_waivers=config.getoption("strict_waivers"),
        tls_verify=not config.getoption("tls_no_verify"),
    )
