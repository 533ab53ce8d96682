"""The `adapter` command.

Each subcommand lives in its own module under `adapter.cli` and exposes
`HELP: str`, `add_arguments(parser)` and `run(args) -> int`. Modules are imported
lazily so that `adapter --help` stays fast and a subcommand's dependencies load
only when it runs.

`main()` checks what the subcommand needs first (`preflight`), and turns a known
failure (Redis, the CRM, a port, Ctrl-C) into one line and an exit status (`failures`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from adapter import __version__

# name -> module; order is the order `adapter --help` lists them.
SUBCOMMANDS: dict[str, str] = {
    "dev": "adapter.cli.dev",
    "serve": "adapter.cli.serve",
    "worker": "adapter.cli.worker",
    "sandbox": "adapter.cli.sandbox",
    "map": "adapter.cli.map",
    "status": "adapter.cli.status",
    "deadletter": "adapter.cli.deadletter",
    "trace": "adapter.cli.trace",
    "replay": "adapter.cli.replay",
    "tail": "adapter.cli.tail",
    "send-test": "adapter.cli.send_test",
    "backfill": "adapter.cli.backfill",
    "config": "adapter.cli.config",
}


def _available() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for name, module_path in SUBCOMMANDS.items():
        try:
            found[name] = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            if exc.name != module_path:
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adapter",
        description="Shopify, Stripe and form webhooks into CRM contacts, deals and leads.",
    )
    parser.add_argument("--version", action="version", version=f"crm-adapter {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available().items():
        sub = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    from adapter.cli import failures, preflight

    def checked_run() -> int:
        preflight.check(args.command, args)
        code: int = args._run(args)
        return code

    return failures.guarded(args.command, checked_run)


if __name__ == "__main__":
    sys.exit(main())
