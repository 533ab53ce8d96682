"""The `adapter sandbox` subcommand (and `python -m crm_sandbox`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

HELP = "Run a local emulator of the CRM API (the sandbox) on 127.0.0.1."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8100, help="port to listen on (8100)")
    parser.add_argument("--db", metavar="PATH", help="SQLite file to keep data in (in memory)")
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY",
        help="API key of the default organisation (repeatable; one is generated if none)",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=120, metavar="N", help="requests a minute per key; 0: off"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault injector")
    faults = parser.add_argument_group("faults (fractions of API requests, 0..1)")
    for name, text in (
        ("error-before", "500 before any write"),
        ("error-after", "500 after the write committed"),
        ("rate-limit", "429 with Retry-After: 1"),
        ("hang", "commit, then hold the answer --fault-hang-seconds"),
    ):
        faults.add_argument(f"--fault-{name}", type=float, default=0.0, metavar="F", help=text)
    faults.add_argument("--fault-hang-seconds", type=float, default=30.0, metavar="S")
    faults.add_argument("--fault-latency-ms", type=float, default=0.0, metavar="MS")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])


def run(args: argparse.Namespace) -> int:
    from crm_sandbox.faults import FaultSettings, FaultSettingsError
    from crm_sandbox.server import ServeOptions, serve

    try:
        faults = FaultSettings(
            seed=args.seed,
            error_before=args.fault_error_before,
            error_after=args.fault_error_after,
            rate_limit=args.fault_rate_limit,
            hang=args.fault_hang,
            hang_seconds=args.fault_hang_seconds,
            latency_ms=args.fault_latency_ms,
        )
    except FaultSettingsError as exc:
        print(f"adapter sandbox: {exc}", file=sys.stderr)
        return 2
    options = ServeOptions(
        host=args.host,
        port=args.port,
        db_path=args.db,
        api_keys=tuple(args.api_key),
        rate_limit=args.rate_limit,
        faults=faults,
        log_level=args.log_level,
    )
    return serve(options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm_sandbox", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
