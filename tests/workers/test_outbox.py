from __future__ import annotations

import pytest
import redis

from adapter.crm.commands import ForgetShop, UpsertContact
from tests.support.waiting import wait_until
from tests.workers.commands import upsert_deal
from workers.outbox import Claim, Claimed, Entry, Kind, Outbox, Settlement, Wait

LEASE = 30.0


def entries(*numbers: int, **kw: object) -> list[Entry]:
    return [Entry(command=upsert_deal(n, **kw)) for n in numbers]  # type: ignore[arg-type]


def claim(
    outbox: Outbox, linger: float = 0.0, lease: float = LEASE, cap: int | None = None
) -> Claim:
    got = outbox.claim(Kind.DEALS, linger=linger, lease=lease, cap=cap)
    assert isinstance(got, Claim), got
    return got


def claim_when_ready(outbox: Outbox, linger: float = 0.0, timeout: float = 5.0) -> Claim:
    def ready() -> Claim | None:
        got = outbox.claim(Kind.DEALS, linger=linger, lease=LEASE)
        return got if isinstance(got, Claim) else None

    return wait_until(ready, timeout=timeout)


def test_claimed_and_acknowledged_entries_leave_the_queue(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    ids = outbox.add(entries(1, 2))
    batch = claim(outbox)
    assert batch.ids == ids
    assert [c.entry.command.external_id for c in batch.entries if c.entry] == [
        upsert_deal(1).external_id,
        upsert_deal(2).external_id,
    ]
    settlement = Settlement()
    for entry_id in batch.ids:
        settlement.ack(entry_id)
    assert outbox.settle(batch, settlement) == 2
    assert outbox.size() == 0
    assert outbox.claim(Kind.DEALS, linger=0, lease=LEASE) == Wait(None)


def test_a_part_full_batch_waits_for_company_up_to_the_linger(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    early = outbox.claim(Kind.DEALS, linger=0.3, lease=LEASE)
    assert isinstance(early, Wait)
    assert early.seconds is not None
    assert 0 < early.seconds <= 0.3
    later = claim_when_ready(outbox, linger=0.3)
    assert len(later.entries) == 1


def test_a_full_batch_leaves_without_lingering(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1, 2, 3, 4))
    batch = claim(outbox, linger=60.0, cap=3)
    assert len(batch.entries) == 3


def test_a_locked_external_id_is_left_for_later(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    first = claim(outbox)
    outbox.add(entries(1, 2, version=1))
    second = claim(outbox)
    # the newer command for order 1 waits until the first claim is settled
    assert [c.entry.command.external_id for c in second.entries if c.entry] == [
        upsert_deal(2).external_id
    ]
    settlement = Settlement()
    settlement.ack(first.ids[0])
    outbox.settle(first, settlement)
    third = claim(outbox)
    assert [c.entry.command.external_id for c in third.entries if c.entry] == [
        upsert_deal(1).external_id
    ]


def test_commands_for_one_waiting_record_merge_into_one_entry(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    first = outbox.add(entries(1))
    second = outbox.add(entries(1, stage="won", version=1))
    assert first == second
    [claimed] = claim(outbox).entries
    assert claimed.entry is not None
    assert claimed.entry.command.deal.stage == "won"  # type: ignore[union-attr]


def test_a_command_after_the_claim_starts_a_new_entry(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    claim(outbox)
    outbox.add(entries(1, stage="won", version=1))
    assert outbox.backlog(Kind.DEALS).total == 2


def test_an_expired_lease_is_reclaimed_by_the_next_claim(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    dead = claim(outbox, lease=0.2)  # its worker dies: never settled
    again = claim_when_ready(outbox)
    assert again.ids == dead.ids
    assert again.entries[0].reclaims == 1
    # the dead claim's late settlement changes nothing
    settlement = Settlement()
    settlement.ack(dead.ids[0])
    assert outbox.settle(dead, settlement) == 0
    assert outbox.size() == 1


def test_touch_keeps_a_live_claim(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    live = claim(outbox, lease=0.3)
    assert outbox.touch(live, lease=LEASE) == 1
    assert isinstance(outbox.claim(Kind.DEALS, linger=0, lease=LEASE), Wait)


def test_a_retry_waits_out_its_delay(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    batch = claim(outbox)
    settlement = Settlement()
    assert batch.entries[0].entry is not None
    settlement.retry(batch.ids[0], 0.3, batch.entries[0].entry.model_copy(update={"attempts": 1}))
    outbox.settle(batch, settlement)
    waiting = outbox.claim(Kind.DEALS, linger=60, lease=LEASE)
    assert isinstance(waiting, Wait)
    # once due, a retry does not linger for company
    again = claim_when_ready(outbox, linger=60)
    assert again.entries[0].entry is not None
    assert again.entries[0].entry.attempts == 1


def test_an_entry_to_send_alone_is_claimed_alone(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1, 2, 3))
    batch = claim(outbox)
    settlement = Settlement()
    for c in batch.entries:
        assert c.entry is not None
        settlement.retry(c.id, 0.0, c.entry, alone=True)
    outbox.settle(batch, settlement)
    sizes = []
    for _ in range(3):
        got = claim(outbox)
        sizes.append(len(got.entries))
        done = Settlement()
        done.ack(got.ids[0])
        outbox.settle(got, done)
    assert sizes == [1, 1, 1]


def test_a_once_key_queues_a_delivery_once(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    assert outbox.add(entries(1), once_key="outbox:accepted:d1") is not None
    assert outbox.add(entries(1), once_key="outbox:accepted:d1") is None
    assert outbox.size() == 1


def test_adding_under_a_known_id_replaces_the_entry(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1), ids=["7.n"])
    outbox.add(entries(1, stage="won"), ids=["7.n"])
    [(entry_id, entry)] = outbox.entries(Kind.DEALS)
    assert entry_id == "7.n"
    assert entry.command.deal.stage == "won"  # type: ignore[union-attr]


def test_creates_and_updates_of_deals_share_one_queue(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add([Entry(command=upsert_deal(1), deal_id="d1"), Entry(command=upsert_deal(2))])
    assert outbox.backlog(Kind.CHANGES).total == 0
    assert outbox.backlog(Kind.DEALS).total == 2


def test_lock_keys_never_hold_personal_data(connection: redis.Redis) -> None:
    outbox = Outbox(connection)
    outbox.add(entries(1))
    claim(outbox)
    dump = " ".join(
        f"{key} {connection.hgetall(key) if connection.type(key) == 'hash' else ''}"
        for key in connection.keys("outbox:*lock*")
    )
    assert "buyer1@example.com" not in dump


def test_claimed_command_as_refuses_a_command_of_another_kind() -> None:
    claimed = Claimed(
        id="1",
        entry=Entry(command=ForgetShop(external_id="x", shop_domain="s.myshopify.com")),
        reclaims=0,
        lock_keys=[],
    )
    assert claimed.command_as(ForgetShop).shop_domain == "s.myshopify.com"
    with pytest.raises(TypeError):
        claimed.command_as(UpsertContact)
