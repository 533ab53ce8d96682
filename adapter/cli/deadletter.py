"""`adapter deadletter`: list, show, replay and drop what could not be delivered."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "List, show, replay or drop dead letters (undeliverable commands and deliveries)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # not adapter.cli.config's helper: importing it loads the web side's form checks
    parser.add_argument("--config", metavar="FILE", help="TOML config file ($ADAPTER_CONFIG)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list dead letters, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    show = actions.add_parser("show", help="show one dead letter whole (payload included)")
    show.add_argument("id", help="the dead letter's id (see list)")
    replay = actions.add_parser("replay", help="send a dead letter again (after a fix)")
    target = replay.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?", help="the dead letter's id (see list)")
    target.add_argument("--all", action="store_true", help="replay every dead letter")
    drop = actions.add_parser("drop", help="forget a dead letter")
    drop.add_argument("id", help="the dead letter's id (see list)")


def run(args: argparse.Namespace) -> int:
    from adapter.cli.target import load_target
    from workers import redrive
    from workers.context import Context

    # the running dev mode's Redis when REDIS_URL names none
    ctx = Context(load_target(args.config).settings)
    try:
        store = ctx.deadletters
        if args.action == "list":
            letters = store.listing(limit=args.limit)
            for letter in letters:
                s = letter.summary()
                if args.json:
                    print(json.dumps(s))
                else:
                    print(
                        f"{s['id']}  {s['created_at'][:19]}  {s['what']}  "
                        f"{s['external_id'] or '-'}  {s['status'] or '-'}  {s['error']}"
                    )
            if not args.json:
                print(f"{store.count()} dead letter(s)")
            return 0
        if args.action == "show":
            found = store.get(args.id)
            if found is None:
                print(f"no dead letter {args.id}", file=sys.stderr)
                return 1
            print(found.model_dump_json(indent=2, exclude_none=True))
            return 0
        if args.action == "replay":
            results = redrive.replay_all(ctx) if args.all else [redrive.replay(ctx, args.id)]
            for result in results:
                outcome = "replayed" if result.ok else "not replayed"
                print(f"{result.id}: {outcome}: {result.detail}")
            return 0 if all(r.ok for r in results) else 1
        if args.action == "drop":
            if not store.drop(args.id):
                print(f"no dead letter {args.id}", file=sys.stderr)
                return 1
            print(f"dropped {args.id}")
            return 0
        return 2
    finally:
        ctx.close()
