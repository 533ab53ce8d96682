"""How a command fails: one line on stderr and a documented exit status, never a traceback.

    0    done
    1    EXIT_FAILED       the command ran and failed (a send-test answered non-2xx, ...)
    2    EXIT_USAGE        wrong arguments
    69   EXIT_UNAVAILABLE  Redis, the CRM or a port is not available (EX_UNAVAILABLE)
    78   EXIT_CONFIG       a setting the command needs is missing or invalid (EX_CONFIG)
    130  EXIT_INTERRUPTED  stopped with Ctrl-C

`guarded()` runs a subcommand; `translate()` is the one place that knows the errors of
the libraries under the commands (redis, httpx, the CRM client, sockets).
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import ClassVar

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 69
EXIT_CONFIG = 78
EXIT_INTERRUPTED = 130


class CommandFailed(Exception):
    """A failure the user can act on; the message says what and how."""

    code: ClassVar[int] = EXIT_FAILED


class Misconfigured(CommandFailed):
    code = EXIT_CONFIG


class Unavailable(CommandFailed):
    code = EXIT_UNAVAILABLE


def translate(exc: BaseException) -> CommandFailed | None:
    """`exc` as a one-line failure, or None when it is a bug (which keeps its traceback)."""
    if isinstance(exc, CommandFailed):
        return exc
    import httpx
    import redis

    from adapter.crm.errors import CrmError

    if isinstance(exc, redis.AuthenticationError):
        return Misconfigured(f"Redis refused the credentials of REDIS_URL: {exc}")
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        # redis-py names host and port, never the password
        return Unavailable(f"Redis does not answer ({exc}); start it, or set REDIS_URL")
    if isinstance(exc, redis.RedisError):
        return Unavailable(f"Redis refused a command: {exc}")
    if isinstance(exc, CrmError):
        status = f" {exc.status}" if exc.status else ""
        return Unavailable(f"the CRM answered{status}: {exc.message}")
    if isinstance(exc, httpx.HTTPError):
        return Unavailable(f"HTTP request failed: {exc}")
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return Unavailable(f"{exc.strerror}: stop what uses the port, or pick another with --port")
    return None


def guarded(command: str, run: Callable[[], int]) -> int:
    """`run()`'s status; a known failure is one line `adapter <command>: ...` instead."""
    try:
        return run()
    except KeyboardInterrupt:
        # Ctrl-C is how a foreground command is meant to stop: quietly
        return EXIT_INTERRUPTED
    except Exception as exc:
        failure = translate(exc)
        if failure is None:
            raise
        for line in str(failure).splitlines():
            print(f"adapter {command}: {line}", file=sys.stderr, flush=True)
        return failure.code
