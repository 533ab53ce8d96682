"""python -m bench.memory [--deliveries N] [--concurrency C] [--json]"""

from __future__ import annotations

import argparse
import json
import sys

from bench.memory.runner import format_table, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=5000, help="orders to send")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args.deliveries, args.concurrency)
    print(json.dumps(figures, indent=2) if args.json else format_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
