"""`adapter serve`: the webhook and operations endpoints under uvicorn."""

from __future__ import annotations

import argparse
import gc
import os
import sys

from pydantic import ValidationError
from starlette.applications import Starlette

from adapter.cli.config import load_settings_or_exit, refuse_unsafe_redis_or_exit
from adapter.cli.failures import EXIT_CONFIG, EXIT_USAGE
from adapter.logs import configure_logging
from adapter.ops import create_served_app
from adapter.serving import uvicorn_options
from adapter.settings import CONFIG_ENV, load_settings

HELP = "Serve the webhooks plus /healthz, /readyz, /metrics and /status."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--config", help=f"TOML config file (default: ${CONFIG_ENV})")


def app_from_environment() -> Starlette:
    """The uvicorn factory: each worker process loads the settings (and sets up its logs)."""
    settings = load_settings()
    configure_logging(settings)
    app = create_served_app(settings)
    # What start-up built lives as long as the process: kept out of the collector's
    # passes, which otherwise walk all of it again and again while each request's
    # parsed body comes and goes (~25 us of CPU a request; docs/benchmarks.md).
    gc.freeze()
    return app


def _describe(exc: ValidationError) -> str:
    # without the input values: they may be secrets
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn

    if args.config:
        # set in the environment so that every worker process reads the same file
        os.environ[CONFIG_ENV] = args.config
    if args.workers < 1:
        print("adapter serve: --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    # fail here, once and readably (each bad setting named), rather than in every worker
    settings = load_settings_or_exit(args.config)
    refuse_unsafe_redis_or_exit(settings, "serve")
    try:
        create_served_app(settings)
        configure_logging(settings)
    except ValidationError as exc:
        print(f"adapter serve: invalid settings: {_describe(exc)}", file=sys.stderr)
        return EXIT_CONFIG
    except (ValueError, OSError) as exc:
        print(f"adapter serve: invalid settings: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    uvicorn.run(
        "adapter.cli.serve:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        server_header=False,
        log_level=settings.log_level.lower(),
        # uvicorn's loggers propagate to the redacting root handler
        log_config=None,
        **uvicorn_options(settings),
    )
    return 0
