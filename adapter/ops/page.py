"""The `/status` page and its trace pages: server-rendered HTML, no script, every value
escaped; the page refreshes itself (a meta refresh) and the chart is inline SVG.

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

from adapter.events import Rejected
from adapter.logs import Redactor
from adapter.metrics import COLUMNS, Minute, source_counts
from adapter.ops.auth import CSRF_FIELD
from adapter.ops.downstream import Waiting
from adapter.ops.state import Snapshot
from adapter.ops.trace import DEAD, DELIVERED, IN_OUTBOX, Trace
from workers.deadletters import DeadLetter

REPLAY_PATH = "/status/replay"
TRACE_PATH = "/status/trace/"
REFRESH_SECONDS = 10
_TEMPLATES = resources.files("adapter.ops").joinpath("templates")
_STYLE = _TEMPLATES.joinpath("style.css").read_text("utf-8")
# the shared style goes in first: a `$` in it is never a placeholder of the page
_TEMPLATE = Template(
    _TEMPLATES.joinpath("status.html").read_text("utf-8").replace("$style", _STYLE)
)
_TRACE_TEMPLATE = Template(
    _TEMPLATES.joinpath("trace.html").read_text("utf-8").replace("$style", _STYLE)
)
_OUTCOME_CSS = {DELIVERED: "ok", DEAD: "bad", IN_OUTBOX: "warn"}
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


def _label(label: str) -> str:
    return f' data-label="{label}"' if label else ""


def _table(
    headers: Sequence[str] | None,
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool],
    empty: str,
    row_class: Sequence[str] = (),
    cards: bool = False,
) -> str:
    """Cells are HTML already (escaped by the caller); headers are text. At phone width
    a `cards` table shows each row as a card of labelled lines; others scroll sideways
    inside their box, so the page keeps the phone's width."""
    labels = [_e(h) for h in headers] if headers is not None else [""] * len(numeric)
    body = [
        (f'<tr class="{row_class[r]}">' if r < len(row_class) and row_class[r] else "<tr>")
        + "".join(
            f"<td{' class=n' if n else ''}{_label(label)}>{cell}</td>"
            for cell, n, label in zip(row, numeric, labels, strict=True)
        )
        + "</tr>"
        for r, row in enumerate(rows)
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
    css = "scroll cards" if cards else "scroll"
    return f'<div class="{css}"><table>{head}<tbody>{"".join(body)}</tbody></table></div>'


def _webhooks(counts: Mapping[str, Mapping[str, int]]) -> str:
    # the three sources always; requests to unknown sources only once there were some
    shown = ["shopify", "stripe", "form", *sorted(set(counts) - {"shopify", "stripe", "form"})]
    rows = [
        [_e(source), *(_e(counts.get(source, {}).get(c, 0)) for c in COLUMNS)] for source in shown
    ]
    return _table(["source", *COLUMNS], rows, [False, *[True] * len(COLUMNS)], "")


def _queues(snapshot: Snapshot) -> str:
    ledger = ""
    if snapshot.ledger is not None:
        held = snapshot.ledger
        ledger = _table(
            ["delivery ledger", "waiting", "being mapped", "retained", "stored (MB)"],
            [
                [
                    "deliveries",
                    *(_e(v) for v in (held.waiting, held.mapping, held.retained)),
                    _e(held.stored_mb),
                ]
            ],
            [False, True, True, True, True],
            "",
        )
    rows = [
        [
            f"<code>{_e(q.name)}</code>",
            *(_e(v) for v in (q.queued, q.started, q.failed, q.deferred, q.scheduled)),
        ]
        for q in snapshot.queues
    ]
    headers = ["RQ queue", "queued", "started", "failed", "deferred", "scheduled"]
    return ledger + _table(headers, rows, [False, True, True, True, True, True], "no queues")


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
    return _table(headers, rows, numeric, "none", ["dead"] * len(rows), cards=True)


def trace_link(trace: Trace, text: str) -> str:
    return f'<a href="{TRACE_PATH}{_e(trace.digest)}">{text}</a>'


def _recent(traces: Sequence[Trace]) -> str:
    rows = [
        [
            _e(_when(t.steps[0].at)),
            _e(t.source),
            _e(t.topic or "-"),
            trace_link(
                t, f'<span class="{_OUTCOME_CSS.get(t.outcome, "")}">{_e(t.outcome)}</span>'
            ),
            trace_link(t, f"<code>{_e(t.delivery_id)}</code>"),
        ]
        for t in traces
    ]
    headers = ["received", "source", "topic", "outcome", "delivery id"]
    css = ["dead" if t.outcome == DEAD else "" for t in traces]
    return _table(headers, rows, [False] * 5, "none retained", css, cards=True)


def _waiting(entries: Sequence[Waiting], total: int) -> str:
    rows = [
        [
            _e(w.outbox),
            f"<code>{_e(w.external_id)}</code>",
            _e("being sent" if w.leased else "waiting"),
            _e(w.attempts),
            _e(_when(w.next_try_at) if w.next_try_at else "-"),
            f"<code>{_e(w.last_error or '-')}</code>",
        ]
        for w in entries
    ]
    headers = ["outbox", "external id", "state", "attempts", "next try", "last CRM error"]
    empty = "nothing waiting" if total == 0 else f"{total} entries: too many to list"
    numeric = [False, False, False, True, False, False]
    return _table(headers, rows, numeric, empty, cards=True)


def _rejected(rejected: Sequence[Rejected]) -> str:
    rows = [
        [_e(_when(r.at)), _e(r.source), _e(r.status), f"<code>{_e(_mask(r.reason))}</code>"]
        for r in rejected
    ]
    headers = ["when", "source", "status", "reason"]
    return _table(headers, rows, [False, False, True, False], "none", cards=True)


CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 600, 140, 24
SERIES = (
    ("deliveries", "deliveries stored", "#0969da"),
    ("crm_requests", "CRM requests", "#bf8700"),
)


def chart(minutes: Sequence[Minute]) -> str:
    """Per minute over the last hour: one line per series, scaled to the largest count."""
    top = max([1, *(m.counts.get(name, 0) for m in minutes for name, _, _ in SERIES)])
    span = max(len(minutes) - 1, 1)
    inner_w, inner_h = CHART_WIDTH - 2 * CHART_PAD, CHART_HEIGHT - 2 * CHART_PAD

    def point(n: int, value: int) -> str:
        x = CHART_PAD + inner_w * n / span
        y = CHART_PAD + inner_h * (1 - value / top)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg class="chart" viewBox="0 0 {CHART_WIDTH} {CHART_HEIGHT}" role="img" '
        'aria-label="deliveries and CRM requests per minute, last hour">',
        f'<line x1="{CHART_PAD}" y1="{CHART_HEIGHT - CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" '
        f'y2="{CHART_HEIGHT - CHART_PAD}" stroke="#8c959f"/>',
        f'<line x1="{CHART_PAD}" y1="{CHART_PAD}" x2="{CHART_WIDTH - CHART_PAD}" '
        f'y2="{CHART_PAD}" stroke="#eaeef2"/>',
        f'<text x="{CHART_PAD - 4}" y="{CHART_PAD + 4}" text-anchor="end">{top}</text>',
        f'<text x="{CHART_PAD - 4}" y="{CHART_HEIGHT - CHART_PAD + 4}" text-anchor="end">0</text>',
        f'<text x="{CHART_PAD}" y="{CHART_HEIGHT - 6}">-60 min</text>',
        f'<text x="{CHART_WIDTH - CHART_PAD}" y="{CHART_HEIGHT - 6}" text-anchor="end">now</text>',
    ]
    for name, _label, colour in SERIES:
        points = " ".join(point(n, m.counts.get(name, 0)) for n, m in enumerate(minutes))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
    parts.append("</svg>")
    totals = "".join(
        f'<span class="key"><i style="background:{colour}"></i>{_e(label)}: '
        f"{sum(m.counts.get(name, 0) for m in minutes)} in the hour</span>"
        for name, label, colour in SERIES
    )
    return "".join(parts) + f'<p class="legend">{totals}</p>'


@dataclass(frozen=True)
class View:
    """Everything the status page shows, read from Redis at once."""

    snapshot: Snapshot
    deliveries: Mapping[tuple[str, ...], int]
    recent: Sequence[Trace]
    letters: Sequence[DeadLetter]
    waiting: Sequence[Waiting]
    rejected: Sequence[Rejected]
    minutes: Sequence[Minute]


def render(view: View, csrf: str, flash: Flash | None = None) -> str:
    snapshot = view.snapshot
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
    dead_css = "dead-box" if snapshot.dead_letters else ""
    values: dict[str, Any] = {
        "refresh": REFRESH_SECONDS,
        "taken_at": _e(_when(snapshot.taken_at)),
        "workers_summary": workers_summary,
        "flash": flash_html,
        "chart": chart(view.minutes),
        "webhooks": _webhooks(source_counts(view.deliveries)),
        "queues": _queues(snapshot),
        "outbox": _outbox(snapshot),
        "waiting": _waiting(view.waiting, snapshot.outbox_total),
        "crm": _crm(snapshot) + _tenants(snapshot),
        "workers": _workers(snapshot),
        "dead_class": dead_css,
        "dead_letter_count": _e(snapshot.dead_letters),
        "dead_letters": _dead_letters(view.letters, csrf),
        "recent": _recent(view.recent),
        "rejected": _rejected(view.rejected),
    }
    return _TEMPLATE.substitute(values)


def render_trace(trace: Trace) -> str:
    rows = []
    for step in trace.steps:
        text = _e(_mask(step.text))
        commands = step.detail.get("commands", []) if step.name == "mapped" else []
        if commands:
            text += (
                "<ul>"
                + "".join(
                    f"<li><code>{_e(c['kind'])}</code> <code>{_e(c['external_id'])}</code> "
                    f"{_e(_mask(c['summary']))}</li>"
                    for c in commands
                )
                + "</ul>"
            )
        rows.append([_e(_when(step.at)) if step.at else "", _e(step.name), text])
    css = ["dead" if step.name == "dead" else "" for step in trace.steps]
    values = {
        "delivery_id": _e(trace.delivery_id),
        "source": _e(trace.source),
        "topic": _e(trace.topic),
        "scope": _e(trace.scope),
        "digest": _e(trace.digest),
        "outcome": _e(trace.outcome),
        "outcome_class": _OUTCOME_CSS.get(trace.outcome, ""),
        "steps": _table(["when", "step", "what"], rows, [False] * 3, "no steps", css, cards=True),
    }
    return _TRACE_TEMPLATE.substitute(values)
