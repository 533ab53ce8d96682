"""Which adapter a command in a second terminal talks to: the configured one, or the
`adapter dev` running on this machine when no setting names another.

`load_target()` is what `status`, `deadletter`, `send-test` (and `trace`, `tail`) call
instead of loading the settings themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from adapter.cli.config import ConfigError, load_settings_checked
from adapter.cli.failures import Misconfigured
from adapter.dev.config import configured, dev_settings
from adapter.dev.state import DevState, read_state, state_path
from adapter.settings import Settings


@dataclass(frozen=True)
class Target:
    settings: Settings
    # the dev mode followed, if any (its web app is `dev.web_url`)
    dev: DevState | None = None


def redis_not_configured(settings: Settings) -> bool:
    return not configured(settings, "redis_url")


def load_target(
    config: str | Path | None = None,
    *,
    follow_dev: Callable[[Settings], bool] = redis_not_configured,
) -> Target:
    """The settings, switched to a running dev mode's when `follow_dev(settings)` holds
    (by default: REDIS_URL is not set) and one runs."""
    try:
        settings = load_settings_checked(config)
    except ConfigError as exc:
        raise Misconfigured("invalid configuration: " + "; ".join(exc.problems)) from None
    state = read_state(state_path(settings)) if follow_dev(settings) else None
    if state is None:
        return Target(settings)
    return Target(following(settings, state), state)


def following(settings: Settings, state: DevState) -> Settings:
    """`settings` as the dev mode runs them: its Redis, secrets and form; its CRM and
    admin token unless configured here."""
    crm_url = None if configured(settings, "crm_base_url") else state.crm_base_url
    crm_key = state.crm_api_key if crm_url is not None else None
    followed = dev_settings(settings, state.redis_url, crm_url, crm_key)
    if settings.admin_token is None:
        followed = followed.model_copy(update={"admin_token": SecretStr(state.admin_token)})
    return followed
