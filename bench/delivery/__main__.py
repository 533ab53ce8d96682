"""python -m bench.delivery [--orders N] [--baseline-events N] [--workers W] [--json]"""

from __future__ import annotations

import argparse
import json
import sys

from bench.delivery.runner import format_table, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery", description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000, help="orders to deliver")
    parser.add_argument(
        "--baseline-events",
        type=int,
        default=600,
        help="events sent one request each for the baseline (extrapolated to --orders)",
    )
    parser.add_argument("--workers", type=int, default=4, help="worker processes")
    parser.add_argument(
        "--rate-limit", type=int, default=1200, help="CRM requests per minute (both sides)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args.orders, args.baseline_events, args.workers, args.rate_limit)
    print(json.dumps(figures, indent=2) if args.json else format_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
