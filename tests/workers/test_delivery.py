"""The delivery logic in-process, against the in-memory CRM (fast; no HTTP server).

The same properties are shown end to end, with worker processes and the sandbox, in
test_end_to_end.py.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from adapter.crm.client import Backoff, CrmClient
from adapter.crm.commands import AnyCommand, ForgetShop, RecordDataRequest, RedactContact
from adapter.settings import Settings
from tests.support.waiting import wait_until
from tests.workers.commands import (
    SHOP,
    T0,
    create_lead,
    order_id,
    update_deal,
    upsert_contact,
    upsert_deal,
)
from tests.workers.fakecrm import FakeCrm
from workers import intake, redrive
from workers.context import Context, Options
from workers.flush import flush
from workers.local import data_requests
from workers.outbox import Kind

API_KEY = "cg_unit_test_key"


@pytest.fixture
def crm() -> FakeCrm:
    return FakeCrm()


@pytest.fixture
def ctx(redis_url: str, crm: FakeCrm) -> Iterator[Context]:
    settings = Settings(redis_url=redis_url, crm_api_key=API_KEY, crm_base_url="http://crm.test")
    options = Options(
        linger=0.0,
        lease=5.0,
        backoff=Backoff(base=0.05, cap=0.2, jitter=0.0),
        missing_deal_grace=1.0,
    )
    client = CrmClient(settings.crm_base_url, API_KEY, transport=crm.transport(), max_attempts=1)
    context = Context(settings, options, client)
    yield context
    context.close()


def queue(ctx: Context, *commands: AnyCommand) -> None:
    intake.queue_commands(ctx, list(commands))


def drain(ctx: Context, timeout: float = 10.0) -> None:
    """Flush every kind until the outbox is empty."""

    def empty() -> bool:
        for kind in Kind:
            flush(ctx, kind, budget=1.0)
        return ctx.outbox.size() == 0

    wait_until(empty, timeout=timeout, interval=0.01)


def only_deal(crm: FakeCrm, n: int) -> dict[str, Any]:
    [deal] = crm.deals_by_external_id()[order_id(n)]
    return deal


# --- batching ----------------------------------------------------------------


def test_a_burst_of_deals_goes_out_in_full_bulk_requests(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, *(upsert_deal(n) for n in range(250)))
    drain(ctx)
    assert crm.bulk_rows == [100, 100, 50]
    # each bulk create is followed by one GET of the new deals (their updated_at)
    assert crm.requests == {"POST /create-deals-bulk": 3, "GET /rest-api-proxy/deals": 3}
    assert len(crm.deals) == 250


def test_money_arrives_exactly(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1, value="1234567.89"))
    drain(ctx)
    assert only_deal(crm, 1)["value"] == Decimal("1234567.89")


def test_the_id_map_records_deal_and_contact(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    record = ctx.idmap.get(order_id(1))
    assert record.deal_id == only_deal(crm, 1)["id"]
    assert record.contact_id == only_deal(crm, 1)["contact_id"]


# --- effectively once ----------------------------------------------------------


def test_a_500_after_commit_does_not_duplicate(ctx: Context, crm: FakeCrm) -> None:
    crm.fail("POST /create-deals-bulk", "error_after")
    queue(ctx, *(upsert_deal(n) for n in range(5)))
    drain(ctx)
    assert all(len(deals) == 1 for deals in crm.deals_by_external_id().values())
    assert len(crm.deals) == 5
    # the retry found its own deals (skipped) and needed no PATCH
    assert crm.requests == {"POST /create-deals-bulk": 2, "GET /rest-api-proxy/deals": 1}


def test_two_versions_in_one_batch_end_newest_after_a_500_after_commit(
    ctx: Context, crm: FakeCrm
) -> None:
    crm.fail("POST /create-deals-bulk", "error_after")
    queue(ctx, upsert_deal(1, version=0), upsert_deal(1, stage="won", version=1))
    drain(ctx)
    assert only_deal(crm, 1)["stage"] == "won"
    assert crm.bulk_rows == [1, 1]


def test_a_newer_version_whose_answer_is_lost_after_an_older_create_still_wins(
    ctx: Context, crm: FakeCrm
) -> None:
    slow = Context(ctx.settings, Options(linger=0.0, backoff=Backoff(base=0.5, jitter=0.0)))
    slow.client = ctx.client
    crm.fail("POST /create-deals-bulk", "error_after", "error_after")
    queue(slow, upsert_deal(1, version=0))
    flush(slow, Kind.DEALS, budget=0.01)  # v0 created, its answer lost
    queue(slow, upsert_deal(1, stage="won", version=1))
    flush(slow, Kind.DEALS, budget=0.01)  # v1 skipped as existing, its answer lost too
    drain(slow)
    assert only_deal(crm, 1)["stage"] == "won"
    slow.close()


def test_a_500_before_commit_is_retried(ctx: Context, crm: FakeCrm) -> None:
    crm.fail("POST /create-deals-bulk", "error_before", "error_before")
    queue(ctx, upsert_deal(1))
    drain(ctx)
    assert only_deal(crm, 1)["stage"] == "new"
    assert crm.requests["POST /create-deals-bulk"] == 3


def test_a_429_pauses_the_key_and_the_batch_is_sent_after(ctx: Context, crm: FakeCrm) -> None:
    crm.fail("POST /create-deals-bulk", "rate_limit")
    queue(ctx, upsert_deal(1))
    flush(ctx, Kind.DEALS, budget=0.5)
    assert ctx.limiter.paused_for() > 0
    drain(ctx)
    assert len(crm.deals) == 1


def test_a_lead_is_created_once_even_when_its_answer_is_lost(ctx: Context, crm: FakeCrm) -> None:
    crm.fail("POST /create-lead", "error_after")
    queue(ctx, create_lead(1))
    drain(ctx)
    assert len(crm.deals) == 1
    # the retry looked the lead up by external id instead of creating it again
    assert crm.requests["GET /rest-api-proxy/deals"] == 1
    assert ctx.idmap.get("form:contact:1").deal_id in crm.deals


def test_several_waiting_leads_share_one_bulk_request(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, *(create_lead(n) for n in range(3)))
    drain(ctx)
    assert crm.requests == {"POST /create-leads-bulk": 1}
    assert len(crm.deals) == 3


def test_a_lead_already_created_is_not_sent_again(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, create_lead(1))
    drain(ctx)
    queue(ctx, create_lead(1))
    drain(ctx)
    assert len(crm.deals) == 1
    assert crm.requests == {"POST /create-lead": 1}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_faults_and_order_end_in_the_newest_state_once(redis_url: str, seed: int) -> None:
    """Four versions of six orders and of three customers, and three leads sent twice,
    shuffled, queued and flushed in random bits while a third of all requests fail
    (before or after committing, or 429): each record once, in its newest state."""
    rng = random.Random(seed)
    crm = FakeCrm(chaos=0.3, rng=random.Random(seed))
    settings = Settings(redis_url=redis_url, crm_api_key=API_KEY, crm_base_url="http://crm.test")
    client = CrmClient(settings.crm_base_url, API_KEY, transport=crm.transport(), max_attempts=1)
    options = Options(linger=0.0, backoff=Backoff(base=0.01, cap=0.05, jitter=0.0))
    ctx = Context(settings, options, client)
    stages = ["new", "qualified", "won", "lost"]
    deals = [
        upsert_deal(n, stage=rng.choice(stages), value=str(rng.randint(1, 999)), version=v)
        for n in range(6)
        for v in range(4)
    ]
    contacts = [
        upsert_contact(n, version=v, city=f"city-{rng.randint(1, 99)}")
        for n in range(3)
        for v in range(4)
    ]
    leads = [create_lead(n) for n in range(3)] * 2
    waiting: list[AnyCommand] = rng.sample([*deals, *contacts, *leads], 42)
    while waiting:
        cut = rng.randint(1, 6)
        chunk, waiting = waiting[:cut], waiting[cut:]
        queue(ctx, *chunk)
        for kind in Kind:
            flush(ctx, kind, budget=rng.choice([0.0, 0.05]))
    crm.chaos = 0.0
    drain(ctx)
    ctx.close()

    found = crm.deals_by_external_id()
    for n in range(6):
        newest = max((c for c in deals if c.external_id == order_id(n)), key=_version)
        [deal] = found[order_id(n)]
        assert (deal["stage"], Decimal(str(deal["value"]))) == (
            newest.deal.stage,
            newest.deal.value,
        ), order_id(n)
    for n in range(3):
        assert len(found[f"form:contact:{n}"]) == 1
        [contact] = [c for c in crm.contacts.values() if f"customer{n}@example.com" in c["emails"]]
        newest_contact = max((c for c in contacts if c.external_id.endswith(f":{n}")), key=_version)
        assert contact["custom_fields"] == newest_contact.contact.custom_fields


def _version(command: AnyCommand) -> datetime:
    return command.source_updated_at or T0


# --- updates -------------------------------------------------------------------


def test_an_update_patches_the_deal_and_keeps_other_custom_fields(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    crm.edit_deal(only_deal(crm, 1)["id"], custom_fields={"set_in_crm": "keep me"})
    queue(ctx, upsert_deal(1, stage="won", value="120", version=1, fields={"paid": True}))
    drain(ctx)
    deal = only_deal(crm, 1)
    assert (deal["stage"], deal["value"]) == ("won", 120)
    assert deal["custom_fields"]["set_in_crm"] == "keep me"
    assert deal["custom_fields"]["paid"] is True


def test_an_update_keeps_crm_keys_our_contract_would_refuse(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    crm.edit_deal(only_deal(crm, 1)["id"], custom_fields={"Set By Hand": "x"})
    queue(ctx, upsert_deal(1, stage="won", version=1))
    drain(ctx)
    assert only_deal(crm, 1)["custom_fields"]["Set By Hand"] == "x"
    assert only_deal(crm, 1)["stage"] == "won"


def test_out_of_order_updates_end_in_the_newest_state(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1, stage="won", version=2))
    drain(ctx)
    queue(ctx, upsert_deal(1, stage="qualified", version=1))
    queue(ctx, upsert_deal(1, stage="new", version=0))
    drain(ctx)
    assert only_deal(crm, 1)["stage"] == "won"
    assert "PATCH /rest-api-proxy/deals" not in crm.requests


def test_a_repeated_command_sends_nothing(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    queue(ctx, upsert_deal(1))
    drain(ctx)
    assert crm.requests == {"POST /create-deals-bulk": 1, "GET /rest-api-proxy/deals": 1}


def test_a_deal_created_by_someone_else_is_brought_up_to_date(ctx: Context, crm: FakeCrm) -> None:
    # the same title for the same contact exists, but not from us
    queue(ctx, upsert_deal(1))
    drain(ctx)
    ctx.redis.delete(f"idmap:{order_id(1)}")
    queue(ctx, upsert_deal(1, stage="won", version=1))
    drain(ctx)
    assert only_deal(crm, 1)["stage"] == "won"
    assert crm.requests["PATCH /rest-api-proxy/deals"] == 1


def test_update_deal_waits_for_its_deal(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, update_deal(1, version=1, fields={"refunded": "10.00"}))
    flush(ctx, Kind.DEALS, budget=0.2)
    queue(ctx, upsert_deal(1))
    drain(ctx)
    assert only_deal(crm, 1)["custom_fields"]["refunded"] == "10.00"


def test_update_deal_for_a_deal_that_never_comes_is_dead_lettered(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, update_deal(1, version=1, fields={"refunded": "10.00"}))
    drain(ctx, timeout=10)
    [letter] = ctx.deadletters.listing()
    assert letter.external_id == order_id(1)
    assert "no deal" in letter.error


def test_contacts_go_out_in_bulk_and_older_upserts_are_skipped(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, *(upsert_contact(n, version=1) for n in range(3)))
    drain(ctx)
    queue(ctx, upsert_contact(0, version=0, city="Old"))
    drain(ctx)
    assert crm.requests == {"POST /import-contacts-bulk": 1}
    assert {c["custom_fields"]["city"] for c in crm.contacts.values()} == {"Riyadh"}


# --- failures and dead letters -------------------------------------------------


def test_a_permanent_row_error_is_dead_lettered_and_replays_after_a_fix(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_deal(1), upsert_deal(2, stage="archived"), upsert_deal(3))
    drain(ctx)
    assert set(crm.deals_by_external_id()) == {order_id(1), order_id(3)}
    [letter] = ctx.deadletters.listing()
    assert letter.error == "invalid stage archived"
    assert letter.entry is not None
    assert letter.entry.command == upsert_deal(2, stage="archived")

    crm.stages.add("archived")  # the fix: the stage now exists in the pipeline
    assert redrive.replay(ctx, letter.id).ok
    drain(ctx)
    assert only_deal(crm, 2)["stage"] == "archived"
    assert ctx.deadletters.count() == 0


def test_a_permanently_failing_request_is_split_to_find_the_bad_row(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_deal(1), upsert_deal(2, fields={"poison": True}), upsert_deal(3))
    drain(ctx)
    assert set(crm.deals_by_external_id()) == {order_id(1), order_id(3)}
    assert crm.bulk_rows == [1, 1]  # the 400s are not counted: they wrote nothing
    [letter] = ctx.deadletters.listing()
    assert (letter.external_id, letter.status, letter.error) == (order_id(2), 400, "malformed")


# --- privacy and local commands -------------------------------------------------


def test_redaction_blanks_the_contact_and_tags_it(ctx: Context, crm: FakeCrm) -> None:
    contact = crm.new_contact(
        first_name="Mahmoud",
        last_name="Ali",
        emails=["m@example.com"],
        phones=["+201017177777"],
        description="VIP",
        tags=["vip"],
        custom_fields={"raw_phone": "0101 717 7777", "customer_type": "VIP", "city": "Cairo"},
    )
    queue(
        ctx,
        RedactContact(
            external_id=f"shopify:{SHOP}:customer:9",
            emails=["m@example.com"],
            phones=["+201017177777"],
        ),
    )
    drain(ctx)
    assert contact["first_name"] is None
    assert contact["last_name"] is None
    assert (contact["emails"], contact["phones"], contact["description"]) == ([], [], None)
    assert contact["custom_fields"] == {"customer_type": "VIP"}
    assert contact["tags"] == ["vip", "redacted"]


def test_redaction_drops_personal_fields_from_the_contacts_deals(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_deal(1, email="m@example.com", fields={"raw_email": "M@Example.com"}))
    drain(ctx)
    queue(
        ctx,
        RedactContact(external_id=f"shopify:{SHOP}:customer:9", emails=["m@example.com"]),
    )
    drain(ctx)
    fields = only_deal(crm, 1)["custom_fields"]
    assert "raw_email" not in fields
    assert fields["external_id"] == order_id(1)


def test_forget_shop_deletes_the_shops_id_map(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    ctx.idmap.record("shopify:other.myshopify.com:order:1", deal_id="x")
    queue(ctx, ForgetShop(external_id=f"shopify:{SHOP}:shop", shop_domain=SHOP))
    assert ctx.idmap.get(order_id(1)).deal_id is None
    assert ctx.idmap.get("shopify:other.myshopify.com:order:1").deal_id == "x"


def test_a_data_request_is_recorded_for_the_merchant(ctx: Context) -> None:
    request = RecordDataRequest(
        external_id=f"shopify:{SHOP}:data_request:7", shop_domain=SHOP, orders_requested=["1"]
    )
    queue(ctx, request)
    queue(ctx, request)
    [recorded] = data_requests(ctx, SHOP)
    assert recorded["orders_requested"] == ["1"]


# --- lifecycles at bulk efficiency (issue #12) -------------------------------------


def test_a_create_and_its_waiting_updates_go_out_as_one_bulk_row(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_deal(1, fields={"financial_status": "pending"}))
    queue(ctx, upsert_deal(1, stage="won", version=1, fields={"financial_status": "paid"}))
    queue(ctx, update_deal(1, version=2, fields={"fulfillment_status": "fulfilled"}))
    drain(ctx)
    assert crm.bulk_rows == [1]
    assert "PATCH /rest-api-proxy/deals" not in crm.requests
    deal = only_deal(crm, 1)
    assert deal["stage"] == "won"
    assert deal["custom_fields"]["financial_status"] == "paid"
    assert deal["custom_fields"]["fulfillment_status"] == "fulfilled"


def test_an_older_update_arriving_late_never_wins_while_pending(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1, stage="won", version=2, fields={"financial_status": "paid"}))
    queue(ctx, upsert_deal(1, stage="new", version=1, fields={"financial_status": "pending"}))
    drain(ctx)
    deal = only_deal(crm, 1)
    assert (deal["stage"], deal["custom_fields"]["financial_status"]) == ("won", "paid")


def test_an_older_update_arriving_late_never_wins_once_sent(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1, stage="won", version=2, fields={"financial_status": "paid"}))
    drain(ctx)
    before = dict(crm.requests)
    queue(ctx, upsert_deal(1, stage="new", version=1, fields={"financial_status": "pending"}))
    drain(ctx)
    assert only_deal(crm, 1)["stage"] == "won"
    assert crm.requests == before


def test_an_update_of_a_known_deal_is_one_patch_without_a_get(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    before = dict(crm.requests)
    queue(ctx, upsert_deal(1, version=1, fields={"fulfillment_status": "fulfilled"}))
    drain(ctx)
    assert crm.requests - Counter(before) == Counter({"PATCH /rest-api-proxy/deals": 1})
    assert only_deal(crm, 1)["custom_fields"]["fulfillment_status"] == "fulfilled"


def test_a_no_op_update_sends_nothing(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1, fields={"note": "a"}))
    drain(ctx)
    before = dict(crm.requests)
    # a newer delivery that changes nothing the CRM shows (only its timestamp is new)
    queue(ctx, upsert_deal(1, version=1, fields={"note": "a"}))
    drain(ctx)
    assert crm.requests == before


def test_a_persons_edit_between_our_updates_survives(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, upsert_deal(1))
    drain(ctx)
    deal_id = only_deal(crm, 1)["id"]
    queue(ctx, upsert_deal(1, version=1, fields={"financial_status": "paid"}))
    drain(ctx)
    crm.edit_deal(deal_id, custom_fields={"call_back": "Tuesday"}, tags=["vip"])
    queue(ctx, upsert_deal(1, version=2, fields={"fulfillment_status": "fulfilled"}))
    drain(ctx)
    deal = only_deal(crm, 1)
    assert deal["custom_fields"]["call_back"] == "Tuesday"
    assert deal["custom_fields"]["fulfillment_status"] == "fulfilled"
    assert deal["custom_fields"]["financial_status"] == "paid"
    assert "vip" in deal["tags"]
    # the guarded PATCH missed, the deal was read, merged and written again
    assert crm.requests["PATCH /rest-api-proxy/deals"] == 3


def test_identical_stage_changes_go_out_as_one_patch(ctx: Context, crm: FakeCrm) -> None:
    queue(ctx, *(upsert_deal(n) for n in range(30)))
    drain(ctx)
    before = dict(crm.requests)
    queue(ctx, *(upsert_deal(n, stage="won", version=1) for n in range(30)))
    drain(ctx)
    assert crm.requests - Counter(before) == Counter({"PATCH /rest-api-proxy/deals": 1})
    assert all(only_deal(crm, n)["stage"] == "won" for n in range(30))


def test_repeated_contact_updates_merge_and_a_no_op_sends_nothing(
    ctx: Context, crm: FakeCrm
) -> None:
    queue(ctx, upsert_contact(1, city="Riyadh"))
    queue(ctx, upsert_contact(1, version=1, city="Jeddah"))
    drain(ctx)
    assert crm.bulk_rows == [1]
    queue(ctx, upsert_contact(1, version=2, city="Jeddah"))
    drain(ctx)
    assert crm.bulk_rows == [1]
    [contact] = crm.contacts.values()
    assert contact["custom_fields"]["city"] == "Jeddah"
