"""`adapter worker`: deliver queued webhooks to the CRM."""

from __future__ import annotations

import argparse

HELP = "Run a delivery worker: map queued deliveries and push them to the CRM."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--burst",
        action="store_true",
        help="exit once the ledger, the queues and the outbox are empty",
    )
    parser.add_argument(
        "--queues",
        nargs="+",
        metavar="QUEUE",
        help="RQ queues to work on (default: deliveries outbox)",
    )


def run(args: argparse.Namespace) -> int:
    from adapter.cli.config import load_settings_or_exit, refuse_unsafe_redis_or_exit
    from adapter.logs import configure_logging
    from workers.runner import run_worker

    settings = load_settings_or_exit()
    refuse_unsafe_redis_or_exit(settings, "worker")
    # before RQ starts, so that its loggers use the redacting root handler
    configure_logging(settings)
    run_worker(
        settings,
        args.queues,
        burst=args.burst,
        logging_level=settings.log_level.upper(),
    )
    return 0
