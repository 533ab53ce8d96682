"""The `/status` page: server-rendered HTML, no script, every value escaped.

Shows ids, counts and error texts only; error texts are masked like logs are, since a
CRM's error message may quote the email address it refused.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from string import Template
from typing import Any

from adapter.logs import Redactor
from adapter.metrics import COLUMNS, Recent, source_counts
from adapter.ops.auth import CSRF_FIELD
from adapter.ops.state import Snapshot
from workers.deadletters import DeadLetter

REPLAY_PATH = "/status/replay"
_TEMPLATE = Template(
    resources.files("adapter.ops").joinpath("templates/status.html").read_text("utf-8")
)
_mask = Redactor()


@dataclass(frozen=True)
class Flash:
    text: str
    ok: bool


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _when(at: float | None) -> str:
    if not at:
        return "never"
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool],
    empty: str,
) -> str:
    """Cells are HTML already (escaped by the caller); headers are text."""
    body = [
        "<tr>"
        + "".join(
            f"<td{' class=n' if n else ''}>{cell}</td>"
            for cell, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    ]
    if not body:
        return f'<p class="muted">{_e(empty)}</p>'
    head = ""
    if headers is not None:
        cells = "".join(
            f"<th{' class=n' if n else ''}>{_e(h)}</th>"
            for h, n in zip(headers, numeric, strict=True)
        )
        head = f"<thead><tr>{cells}</tr></thead>"
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def _webhooks(counts: Mapping[str, Mapping[str, int]]) -> str:
    # the three sources always; requests to unknown sources only once there were some
    shown = ["shopify", "stripe", "form", *sorted(set(counts) - {"shopify", "stripe", "form"})]
    rows = [
        [_e(source), *(_e(counts.get(source, {}).get(c, 0)) for c in COLUMNS)] for source in shown
    ]
    return _table(["source", *COLUMNS], rows, [False, *[True] * len(COLUMNS)], "")


def _queues(snapshot: Snapshot) -> str:
    rows = [
        [
            f"<code>{_e(q.name)}</code>",
            *(_e(v) for v in (q.queued, q.started, q.failed, q.deferred, q.scheduled)),
        ]
        for q in snapshot.queues
    ]
    headers = ["RQ queue", "queued", "started", "failed", "deferred", "scheduled"]
    return _table(headers, rows, [False, True, True, True, True, True], "no queues")


def _outbox(snapshot: Snapshot) -> str:
    rows = [
        [_e(o.kind), _e(o.total), _e(o.due), _e(o.leased), _e(f"{o.oldest_due_seconds:.1f}")]
        for o in snapshot.outbox
    ]
    headers = ["kind", "entries", "due", "leased", "oldest due (s)"]
    return _table(headers, rows, [False, True, True, True, True], "empty")


def _crm(snapshot: Snapshot) -> str:
    limit = snapshot.rate_limit
    paused = (
        f'<span class="bad">paused {limit.paused_for:.0f}s</span>' if limit.paused_for else "no"
    )
    error = snapshot.last_crm_error
    if error:
        status = f" {_e(error.get('status'))}" if error.get("status") else ""
        last_error = (
            f'<span class="bad">{_e(_when(float(error.get("at", 0))))}: '
            f"{_e(error.get('type', ''))}{status}</span><br>"
            f"<code>{_e(_mask(str(error.get('message', ''))))}</code>"
        )
    else:
        last_error = '<span class="ok">none</span>'
    rows = [
        ["requests in window", _e(f"{limit.window_requests} / {limit.per_minute} a minute")],
        ["in flight", _e(f"{limit.in_flight} / {limit.max_in_flight}")],
        ["paused (429)", paused],
        ["last success", _e(_when(snapshot.last_crm_success))],
        ["last error", last_error],
    ]
    return _table(None, rows, [False, False], "")


def _tenants(snapshot: Snapshot) -> str:
    """Each tenant's outbox and CRM, under the CRM section (nothing without tenants)."""
    if not snapshot.tenants:
        return ""
    rows = []
    for t in snapshot.tenants:
        if t.key_refused is not None:
            since = _when(float(t.key_refused.get("since", 0)))
            crm = f'<span class="bad">key refused ({_e(t.key_refused.get("status"))}) since '
            crm += f"{_e(since)}: waiting</span>"
        elif t.paused_for:
            crm = f'<span class="bad">paused {t.paused_for:.0f}s (429)</span>'
        else:
            crm = f'<span class="ok">ok</span>, last success {_e(_when(t.last_crm_success))}'
        rows.append(
            [
                f"<code>{_e(t.name)}</code>",
                _e(t.outbox_total),
                _e(f"{t.oldest_due_seconds:.1f}"),
                _e(f"{t.in_flight} / {t.max_in_flight}"),
                crm,
            ]
        )
    headers = ["tenant", "outbox", "oldest due (s)", "in flight", "CRM"]
    return "<h3>Tenants</h3>" + _table(headers, rows, [False, True, True, True, False], "")


def _workers(snapshot: Snapshot) -> str:
    rows = [
        [
            f"<code>{_e(name)}</code>",
            _e(info.get("host", "")),
            _e(info.get("pid", "")),
            _e(", ".join(info.get("queues", []))),
            _e(f"{max(0.0, snapshot.taken_at - float(info.get('at', 0))):.0f}s ago"),
        ]
        for name, info in sorted(snapshot.workers.items())
    ]
    headers = ["worker", "host", "pid", "queues", "heartbeat"]
    return _table(headers, rows, [False] * 5, "no worker heartbeat: deliveries wait in Redis")


def _dead_letters(letters: Sequence[DeadLetter], csrf: str) -> str:
    rows = []
    for letter in letters:
        s = letter.summary()
        button = (
            f'<form class="replay" method="post" action="{REPLAY_PATH}">'
            f'<input type="hidden" name="id" value="{_e(letter.id)}">'
            f'<input type="hidden" name="{CSRF_FIELD}" value="{_e(csrf)}">'
            '<button type="submit">Replay</button></form>'
        )
        rows.append(
            [
                f"<code>{_e(letter.id)}</code>",
                _e(_when(letter.created_at.timestamp())),
                _e(s["what"]),
                f"<code>{_e(s['external_id'] or '-')}</code>",
                _e(s["status"] or "-"),
                _e(s["attempts"]),
                f"<code>{_e(_mask(letter.error))}</code>",
                button,
            ]
        )
    headers = ["id", "created", "what", "external id", "status", "attempts", "error", ""]
    numeric = [False, False, False, False, True, True, False, False]
    return _table(headers, rows, numeric, "none")


def _recent(recent: Sequence[Recent]) -> str:
    rows = [
        [
            _e(_when(r.at)),
            _e(r.source),
            _e(r.topic or "-"),
            _e(r.outcome),
            f"<code>{_e(r.id)}</code>",
        ]
        for r in recent
    ]
    headers = ["received", "source", "topic", "outcome", "delivery id"]
    return _table(headers, rows, [False] * 5, "none yet")


def render(
    snapshot: Snapshot,
    deliveries: Mapping[tuple[str, ...], int],
    recent: Sequence[Recent],
    letters: Sequence[DeadLetter],
    csrf: str,
    flash: Flash | None = None,
) -> str:
    alive = len(snapshot.workers)
    workers_summary = (
        f'<span class="ok">{alive} worker(s) alive</span>'
        if alive
        else '<span class="bad">no worker alive</span>'
    )
    flash_html = ""
    if flash is not None:
        css = "flash" if flash.ok else "flash bad"
        flash_html = f'<p class="{css}" role="status">{_e(_mask(flash.text))}</p>'
    values: dict[str, Any] = {
        "taken_at": _e(_when(snapshot.taken_at)),
        "workers_summary": workers_summary,
        "flash": flash_html,
        "webhooks": _webhooks(source_counts(deliveries)),
        "queues": _queues(snapshot),
        "outbox": _outbox(snapshot),
        "crm": _crm(snapshot) + _tenants(snapshot),
        "workers": _workers(snapshot),
        "dead_letter_count": _e(snapshot.dead_letters),
        "dead_letters": _dead_letters(letters, csrf),
        "recent": _recent(recent),
    }
    return _TEMPLATE.substitute(values)
