"""Command-line tools: replay a finding, compare reports.

python -m conformance replay FILE --target HOST:PORT [TLS and AUTH options]
python -m conformance matrix REPORT.json... [--output DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from conformance.errors import TargetUnreachable, TlsFailed
from conformance.matrix import ReportFileError, write_matrix
from conformance.replay import ReplayFileError, read_replay, replay_inputs
from conformance.runner import Target
from strategies.commands import Profile
from strategies.extensions import SECRET_LABELS, secrets

#: Exit codes of "replay": the finding came back, or it did not.
REPRODUCED = 1
NOT_REPRODUCED = 0
USAGE_ERROR = 2


def _target(args: argparse.Namespace) -> Target:
    value = args.target
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(
            f"--target {value!r} is invalid: expected HOST:PORT, for example "
            "--target 127.0.0.1:2525"
        )
    if args.tls_ca and not Path(args.tls_ca).is_file():
        raise ValueError(
            f"--tls-ca {args.tls_ca!r} is not a file: give the CA's PEM file"
        )
    return Target(
        host,
        int(port),
        timeout=args.timeout,
        tls_ca=args.tls_ca,
        tls_verify=not args.tls_no_verify,
        implicit_tls=args.implicit_tls,
        server_name=args.tls_server_name,
    )


def _secrets(args: argparse.Namespace) -> dict[bytes, bytes]:
    password = os.environ.get("SMTP_AUTH_PASSWORD")
    if args.auth_user is None:
        return {}
    if not password:
        raise ValueError(
            "--auth-user needs the password in the SMTP_AUTH_PASSWORD "
            "environment variable"
        )
    return secrets(Profile(auth_user=args.auth_user, auth_password=password))


def _replay(args: argparse.Namespace) -> int:
    try:
        target = _target(args)
        credentials = _secrets(args)
        stored = read_replay(Path(args.file))
    except (ValueError, ReplayFileError) as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    hidden = any(label in data for data in stored.inputs for label in SECRET_LABELS)
    if hidden and not credentials:
        print(
            "error: the replay file hides AUTH credentials; pass --auth-user "
            "NAME and set SMTP_AUTH_PASSWORD so that the replay can send them",
            file=sys.stderr,
        )
        return USAGE_ERROR
    try:
        result = replay_inputs(
            target, stored.inputs, stored.verdict, stored.section, credentials
        )
    except TargetUnreachable as error:
        print(f"error: {error}; check that the server is running", file=sys.stderr)
        return USAGE_ERROR
    except TlsFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    if result.reproduced:
        print(f"reproduced: {stored.verdict}: {stored.reason} ({stored.section})")
        assert result.finding is not None
        print(result.finding.format())
        return REPRODUCED
    print(f"not reproduced: {stored.verdict}: {stored.reason} ({stored.section})")
    if result.finding is not None:
        print("a different finding came instead:")
        print(result.finding.format())
    return NOT_REPRODUCED


def _matrix(args: argparse.Namespace) -> int:
    try:
        html, markdown = write_matrix(
            [Path(p) for p in args.reports], Path(args.output)
        )
    except ReportFileError as error:
        print(f"error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:
        print(
            f"error: cannot write to {args.output}: {error.strerror}", file=sys.stderr
        )
        return USAGE_ERROR
    print(f"wrote {html} and {markdown}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance")
    commands = parser.add_subparsers(dest="command", required=True)
    replay = commands.add_parser(
        "replay",
        help="re-send a finding's replay file; exit 1 if it still reproduces, "
        "0 if not, 2 on a usage error",
    )
    replay.add_argument("file", help="a replay/*.smtp file from a report")
    replay.add_argument(
        "--target",
        required=True,
        metavar="HOST:PORT",
        help="the server to replay against",
    )
    replay.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds the server may stay silent (default 10)",
    )
    replay.add_argument(
        "--tls-ca",
        metavar="FILE",
        help="PEM file of the CA of the server's certificate",
    )
    replay.add_argument(
        "--tls-no-verify",
        action="store_true",
        help="accept any server certificate",
    )
    replay.add_argument(
        "--tls-server-name", metavar="NAME", help="name to check the certificate for"
    )
    replay.add_argument(
        "--implicit-tls", action="store_true", help="start TLS before the greeting"
    )
    replay.add_argument(
        "--auth-user",
        metavar="NAME",
        help="AUTH user whose credentials the replay file shows as labels; "
        "the password comes from the SMTP_AUTH_PASSWORD environment variable",
    )
    replay.set_defaults(run=_replay)
    matrix = commands.add_parser(
        "matrix", help="write matrix.html and matrix.md comparing several reports"
    )
    matrix.add_argument("reports", nargs="+", metavar="REPORT.json")
    matrix.add_argument(
        "--output",
        default="reports/matrix",
        metavar="DIR",
        help="directory for matrix.html and matrix.md (default reports/matrix)",
    )
    matrix.set_defaults(run=_matrix)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
