"""Where a running `adapter dev` is, for commands in a second terminal.

`adapter dev` writes a small JSON file (mode 0600, removed on exit): its Redis, its CRM,
its web app and the admin token of its `/status`. `adapter status`, `deadletter`,
`send-test`, ... read it through `adapter.cli.target` when no setting says otherwise.
The file is `DEV_STATE_FILE` if set, else `$XDG_STATE_HOME/crm-adapter/dev.json`
(`~/.local/state/...`). A file left by a dev mode that died (SIGKILL) is ignored: its
process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from adapter.settings import Settings

STATE_NAME = "dev.json"


@dataclass(frozen=True)
class DevState:
    pid: int
    web_url: str
    redis_url: str
    crm_base_url: str
    # only the sandbox's public dev key: a real CRM's key stays in CRM_API_KEY
    crm_api_key: str | None
    admin_token: str


def state_path(settings: Settings) -> Path:
    if settings.dev_state_file is not None:
        return settings.dev_state_file
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "crm-adapter" / STATE_NAME


def write_state(path: Path, state: DevState) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{state.pid}")
    # created 0600 from the start: the file holds the admin token
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(state), out, indent=2)
    os.replace(temporary, path)


def remove_state(path: Path, pid: int) -> None:
    """Remove the file if it is still this process's (a later dev mode may own it now)."""
    found = read_state(path, require_alive=False)
    if found is not None and found.pid == pid:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_state(path: Path, *, require_alive: bool = True) -> DevState | None:
    """The running dev mode's state, or None (no file, unreadable, or its process gone)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        state = DevState(**data)
    except (OSError, ValueError, TypeError):
        return None
    if require_alive and not _alive(state.pid):
        return None
    return state
