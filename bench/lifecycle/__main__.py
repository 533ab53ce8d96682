from __future__ import annotations

import argparse
import json
import sys

from bench.lifecycle.runner import BASELINE_REF, format_report, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lifecycle", description=__doc__)
    parser.add_argument("--orders", type=int, default=1000, help="orders (default 1000)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument(
        "--rate-limit", type=int, default=3000, help="CRM requests a minute (default 3000)"
    )
    parser.add_argument(
        "--live-rate", type=float, default=100.0, help="webhooks a second in live mode"
    )
    parser.add_argument(
        "--baseline-ref",
        default=BASELINE_REF,
        help=f"git ref of today's approach, run from a copy of that tree (default {BASELINE_REF})",
    )
    parser.add_argument("--skip-baseline", action="store_true", help="measure this code only")
    parser.add_argument("--modes", default="backlog,live", help="backlog,live (default both)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    report = run(
        orders=args.orders,
        workers=args.workers,
        rate_limit=args.rate_limit,
        live_rate=args.live_rate,
        baseline_ref=None if args.skip_baseline else args.baseline_ref,
        modes=[m.strip() for m in args.modes.split(",") if m.strip()],
    )
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0 if all(r["verified"]["wrong"] == 0 for r in report["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
