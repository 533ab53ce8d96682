"""python -m bench.ingest [--seconds S] [--connections C] [--rate R] [--rounds N] [--json]"""

from __future__ import annotations

import argparse
import json
import sys

from bench.ingest.runner import format_table, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each run")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop connections")
    parser.add_argument("--rate", type=float, default=500.0, help="open-loop requests per second")
    parser.add_argument("--rounds", type=int, default=2, help="closed-loop runs per endpoint")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = run(args.seconds, args.connections, args.rate, args.rounds)
    print(json.dumps(figures, indent=2) if args.json else format_table(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
