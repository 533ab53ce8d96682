"""CHANGES: redactions, one at a time (`workers.redaction` says what one reaches).

Updates to deals are sent by `workers.deals`, where a create and its
updates for one order merge while they wait.
"""

from __future__ import annotations

import logging

from adapter.crm.client import CrmClient
from adapter.crm.commands import RedactContact, UpdateDeal, UpsertDeal
from adapter.crm.errors import CrmError
from workers.batch import Batch
from workers.ratelimit import LimiterTimeout
from workers.redaction import redact

log = logging.getLogger(__name__)


def send_change(batch: Batch, crm: CrmClient) -> None:
    for claimed in batch.live():
        assert claimed.entry is not None
        command = claimed.entry.command
        try:
            if isinstance(command, RedactContact):
                redact(batch, crm, claimed, command)
            elif isinstance(command, UpsertDeal | UpdateDeal):
                # queued here by an earlier version: deal commands now go to DEALS
                batch.follow_up(claimed, claimed.entry)
            else:
                batch.dead(claimed, f"{command.kind} is not a change")
        except LimiterTimeout as exc:
            batch.later(claimed, exc.wait)
        except CrmError as exc:
            batch.request_failed([claimed], exc)
