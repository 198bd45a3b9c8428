"""Run the reference server: python -m conformance.reference [--fault NAME].

With --cert-dir the server offers STARTTLS with a fresh throwaway certificate
and writes the CA that signed it to DIR/ca.pem, for the suite's --tls-ca.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from conformance.reference.faults import FAULTS
from conformance.reference.server import Policy, ReferenceServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.reference",
        description="Serve the model-driven reference SMTP server on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any)")
    parser.add_argument(
        "--fault",
        choices=sorted(FAULTS),
        help="inject one fault; without it the server conforms",
    )
    parser.add_argument(
        "--helo-optional",
        action="store_true",
        help="accept MAIL before EHLO/HELO instead of answering 503",
    )
    parser.add_argument(
        "--error-limit",
        type=int,
        metavar="N",
        help="answer with 421 and close once N error replies were sent",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        metavar="DIR",
        help="offer STARTTLS with a new test certificate and write ca.pem, "
        "cert.pem and key.pem into DIR",
    )
    parser.add_argument(
        "--auth-after-tls",
        action="store_true",
        help="offer and accept AUTH only inside TLS",
    )
    args = parser.parse_args(argv)
    policy = Policy(
        helo_required=not args.helo_optional,
        error_limit=args.error_limit,
        auth_after_tls=args.auth_after_tls,
    )
    tls_context = None
    if args.cert_dir is not None:
        # Imported here so that the server runs without trustme unless TLS
        # is requested.
        from conformance.certs import TestAuthority, write_for_cli

        authority = TestAuthority()
        files = write_for_cli(authority, args.cert_dir)
        if files is None:
            return 1
        print(f"CA certificate for --tls-ca: {files.ca}", flush=True)
        tls_context = authority.server_context()
    server = ReferenceServer(
        FAULTS[args.fault] if args.fault else None, policy, tls_context=tls_context
    )
    try:
        server.serve_forever(args.port)
    except OSError as error:
        print(
            f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
