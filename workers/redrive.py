"""Replaying dead letters: a command back into the outbox, a delivery through mapping."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.tenants import DEFAULT_TENANT
from workers import intake
from workers.context import Context, UnknownTenant


@dataclass(frozen=True)
class Replayed:
    id: str
    ok: bool
    detail: str


def replay(ctx: Context, letter_id: str) -> Replayed:
    """Send a dead letter again: a command back into the outbox, a delivery through mapping.

    The letter is dropped once its replacement is queued; a delivery that still cannot
    be mapped stays, with the new error.
    """
    letter = ctx.deadletters.get(letter_id)
    if letter is None:
        return Replayed(letter_id, False, "no such dead letter")
    if letter.kind == "command" and letter.entry is not None:
        try:
            tenant = ctx.for_tenant(letter.tenant or DEFAULT_TENANT)
        except UnknownTenant:
            return Replayed(letter_id, False, f"tenant {letter.tenant!r} is not configured")
        queued = intake.queue_commands(tenant, [letter.entry.command], origin=letter.origin)
        ctx.deadletters.drop(letter_id)
        return Replayed(letter_id, True, f"queued {len(queued or [])} command(s)")
    if letter.kind == "delivery" and letter.delivery is not None:
        outcome = intake.accept_delivery(ctx, letter.delivery)
        if outcome.dead_letter is not None:
            return Replayed(letter_id, False, f"still failing: {outcome.error}")
        ctx.deadletters.drop(letter_id)
        return Replayed(letter_id, True, f"mapped to {outcome.commands} command(s)")
    return Replayed(letter_id, False, "dead letter has nothing to replay")


def replay_all(ctx: Context) -> list[Replayed]:
    return [replay(ctx, letter_id) for letter_id in ctx.deadletters.ids()]
