"""`adapter dev`: the whole pipeline in one process, on embedded defaults."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

from adapter.cli.config import add_config_argument, load_settings_or_exit
from adapter.cli.failures import EXIT_INTERRUPTED, EXIT_USAGE

if TYPE_CHECKING:
    from adapter.dev.stack import DevStack

HELP = (
    "Run the web app, a worker, Redis and the CRM sandbox in one process, "
    "with dev secrets (--demo: send samples and show the CRM)."
)

EXIT_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from adapter.dev.redis import BACKENDS

    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="web app port (8000)")
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=8100,
        help="CRM sandbox port (8100); unused when CRM_BASE_URL is set",
    )
    parser.add_argument(
        "--redis",
        choices=BACKENDS,
        default="auto",
        dest="redis_backend",
        help="embedded Redis when REDIS_URL is not set: redis-server from PATH if there "
        "is one, else fakeredis (auto)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="send signed samples from every source, wait for them in the CRM, print them",
    )
    parser.add_argument(
        "--exit", action="store_true", help="with --demo: stop once the demo has run"
    )
    parser.add_argument(
        "--demo-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long --demo waits for the CRM (60)",
    )
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    from adapter.dev.banner import render
    from adapter.dev.config import dev_settings
    from adapter.dev.errors import DevError
    from adapter.dev.stack import DevOptions, DevStack
    from adapter.logs import configure_logging

    if args.exit and not args.demo:
        print("adapter dev: --exit only goes with --demo", file=sys.stderr)
        return EXIT_USAGE
    base = load_settings_or_exit(args.config)
    # before the worker starts, so that RQ logs through the masking root handler
    configure_logging(dev_settings(base, base.redis_url, None, None))
    stop = _stop_on_signals()
    options = DevOptions(args.host, args.port, args.sandbox_port, args.redis_backend)
    stack = DevStack(base, options)
    try:
        stack.start()
    except DevError as exc:
        print(f"adapter dev: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        print(render(stack), flush=True)
        if args.demo:
            code = _demo(stack, args.demo_timeout, stop)
            if args.exit or code != 0:
                return _interrupted(stop) or code
        return _interrupted(stop) or _wait(stack, stop)
    finally:
        stack.stop()
        print("adapter dev: stopped", file=sys.stderr, flush=True)


class Stop(threading.Event):
    """Set by SIGINT or SIGTERM; remembers which."""

    signum: int | None = None


def _interrupted(stop: Stop) -> int:
    """130 once stopped by Ctrl-C, as a shell expects; else 0 (go on, or SIGTERM)."""
    return EXIT_INTERRUPTED if stop.signum == signal.SIGINT else 0


def _stop_on_signals() -> Stop:
    stop = Stop()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.signum = signum
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _wait(stack: DevStack, stop: Stop) -> int:
    while not stop.wait(0.5):
        broken = stack.failed()
        if broken:
            print(f"adapter dev: the {broken} stopped; shutting down", file=sys.stderr)
            return EXIT_FAILED
    return _interrupted(stop)


def _demo(stack: DevStack, timeout: float, stop: threading.Event) -> int:
    from adapter.dev.demo import DemoError, run_demo

    try:
        print(run_demo(stack, timeout, stop), flush=True)
    except DemoError as exc:
        print(f"adapter dev --demo: {exc}", file=sys.stderr)
        # stopped by Ctrl-C while waiting: what the user asked for, not a failure
        return 0 if stop.is_set() else EXIT_FAILED
    return 0
