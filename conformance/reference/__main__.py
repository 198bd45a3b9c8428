"""Run the reference server: python -m conformance.reference [--fault NAME]."""

from __future__ import annotations

import argparse
import sys

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
    args = parser.parse_args(argv)
    policy = Policy(helo_required=not args.helo_optional, error_limit=args.error_limit)
    server = ReferenceServer(FAULTS[args.fault] if args.fault else None, policy)
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
