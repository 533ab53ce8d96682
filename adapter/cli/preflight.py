"""What a command needs before it starts anything, checked first and said in one line each.

    serve   valid settings; at least one webhook source with a secret; its port free
    worker  valid settings; CRM_API_KEY; Redis answering
    dev     valid settings; CRM_API_KEY when CRM_BASE_URL is set; Redis answering when
            REDIS_URL is set; its ports free
    status, deadletter   Redis answering (a running dev mode's, if no REDIS_URL)

`serve` starts without Redis on purpose: it answers 503 + Retry-After until Redis is
back, and `/readyz` says so. A missing setting exits with EXIT_CONFIG (78), something
unavailable with EXIT_UNAVAILABLE (69): see `adapter.cli.failures`.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Callable

from adapter.cli.config import ConfigError, load_settings_checked, mask_url
from adapter.cli.failures import Misconfigured, Unavailable
from adapter.cli.target import load_target
from adapter.dev.config import configured
from adapter.settings import Settings

REDIS_TIMEOUT_SECONDS = 2.0


def source_problems(settings: Settings) -> list[str]:
    configured = (
        settings.shopify_webhook_secrets,
        settings.shopify_shop_secrets,
        settings.stripe_webhook_secrets,
        settings.forms,
        settings.woocommerce_webhook_secrets,
        settings.woocommerce_stores,
        settings.salla_webhook_secrets,
        settings.salla_webhook_tokens,
        settings.salla_merchants,
        settings.paymob_hmac_secrets,
        settings.paymob_integrations,
    )
    if any(configured):
        return []
    return [
        "no webhook source is configured: set SHOPIFY_WEBHOOK_SECRETS, "
        "STRIPE_WEBHOOK_SECRETS, WOOCOMMERCE_WEBHOOK_SECRETS, SALLA_WEBHOOK_SECRETS "
        "(or SALLA_WEBHOOK_TOKENS) or PAYMOB_HMAC_SECRETS, or add a [forms.<id>] table "
        "to the config file"
    ]


def crm_problems(settings: Settings) -> list[str]:
    if settings.crm_api_key.get_secret_value():
        return []
    return [
        "CRM_API_KEY is not set: the CRM refuses every request without it; "
        "set it to the CRM's X-API-Key"
    ]


def role_problems(settings: Settings, role: str) -> list[str]:
    """What `role` (serve, worker, dev) lacks in `settings`."""
    if role == "serve":
        return source_problems(settings)
    if role == "worker":
        return crm_problems(settings)
    if role == "dev" and configured(settings, "crm_base_url"):
        return crm_problems(settings)
    return []


def require_redis(settings: Settings, timeout: float = REDIS_TIMEOUT_SECONDS) -> None:
    """Redis of `settings` answers a PING within `timeout`, tried once: no retries."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from adapter.redis_connection import RedisUrlError, sync_client_for

    url = settings.redis_url
    try:
        client = sync_client_for(
            settings,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
    except RedisUrlError as exc:
        raise Misconfigured(str(exc)) from None
    try:
        client.ping()
    except redis.AuthenticationError as exc:
        raise Misconfigured(f"Redis at {mask_url(url)} refused the credentials: {exc}") from None
    except (redis.RedisError, OSError) as exc:
        raise Unavailable(
            f"Redis at {mask_url(url)} does not answer ({exc}); start it, or set REDIS_URL"
        ) from None
    finally:
        client.close()


def require_port(host: str, port: int, what: str, flag: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise Unavailable(
                f"the {what} cannot listen on {host}:{port} ({exc.strerror}): "
                f"stop what uses it, or pick another port with {flag}"
            ) from None


def _settings(args: argparse.Namespace) -> Settings:
    try:
        return load_settings_checked(getattr(args, "config", None))
    except ConfigError as exc:
        raise Misconfigured("invalid configuration: " + "; ".join(exc.problems)) from None


def _require_role(settings: Settings, role: str) -> None:
    problems = role_problems(settings, role)
    if problems:
        raise Misconfigured("\n".join(problems))


def _serve(args: argparse.Namespace) -> None:
    _require_role(_settings(args), "serve")
    require_port(args.host, args.port, "web app", "--port")


def _worker(args: argparse.Namespace) -> None:
    settings = _settings(args)
    _require_role(settings, "worker")
    require_redis(settings)


def _dev(args: argparse.Namespace) -> None:
    settings = _settings(args)
    _require_role(settings, "dev")
    require_port(args.host, args.port, "web app", "--port")
    if not configured(settings, "crm_base_url"):
        require_port(args.host, args.sandbox_port, "CRM sandbox", "--sandbox-port")
    if configured(settings, "redis_url"):
        require_redis(settings)


def _redis_user(args: argparse.Namespace) -> None:
    require_redis(load_target(getattr(args, "config", None)).settings)


CHECKS: dict[str, Callable[[argparse.Namespace], None]] = {
    "serve": _serve,
    "worker": _worker,
    "dev": _dev,
    "status": _redis_user,
    "deadletter": _redis_user,
}


def check(command: str, args: argparse.Namespace) -> None:
    """Raise the first thing `command` lacks, before it starts anything."""
    found = CHECKS.get(command)
    if found is not None:
        found(args)
