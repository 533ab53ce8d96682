"""Redaction reaches every place the person is: contacts, deal titles and descriptions,
the deals of `orders_to_redact` wherever they are linked, queued commands, dead letters.
In-process against the in-memory CRM (see test_delivery.py for the fixtures)."""

from __future__ import annotations

from adapter.crm.commands import RedactContact
from adapter.crm.models import BulkDeal, DealRecord
from tests.workers.commands import SHOP, order_id, upsert_deal
from tests.workers.fakecrm import FakeCrm
from tests.workers.test_delivery import crm, ctx, drain, only_deal, queue  # noqa: F401
from workers import deadletters
from workers.context import Context
from workers.outbox import Entry, Kind
from workers.redaction import deal_redaction, person_terms, queued_for, without_person

CUSTOMER = f"shopify:{SHOP}:customer:9"
EMAIL = "m.ali@example.com"
PHONE = "+201017177777"


def redact(*orders: int, emails: tuple[str, ...] = (EMAIL,)) -> RedactContact:
    return RedactContact(
        external_id=CUSTOMER,
        emails=list(emails),
        phones=[PHONE],
        deal_external_ids=[order_id(n) for n in orders],
    )


def test_names_emails_and_phones_are_cut_out_of_text_as_whole_words() -> None:
    terms = ["Mahmoud Ali", "Mahmoud", "Ali", EMAIL]
    assert without_person("Contact us: Mahmoud Ali", terms) == "Contact us: [redacted]"
    assert without_person(f"Write to {EMAIL.upper()}", terms) == "Write to [redacted]"
    # "Ali" inside another word is not the person
    assert without_person("Quality check", terms) is None


def test_person_terms_come_from_the_command_and_the_contacts_found() -> None:
    command = redact()
    assert person_terms(command, []) == sorted([EMAIL, PHONE], key=len, reverse=True)


def test_a_deal_titled_after_the_person_gets_a_redacted_title(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    contact = crm.new_contact(first_name="Mahmoud", last_name="Ali", emails=[EMAIL])
    command = upsert_deal(1, email=EMAIL)
    titled = command.deal.model_copy(update={"title": "Contact us: Mahmoud Ali"})
    queue(ctx, command.model_copy(update={"deal": BulkDeal.model_validate(titled.model_dump())}))
    drain(ctx)
    queue(ctx, redact())
    drain(ctx)
    deal = only_deal(crm, 1)
    assert deal["contact_id"] == contact["id"]
    assert deal["title"] == "Contact us: [redacted]"


def test_a_description_naming_the_person_is_scrubbed() -> None:
    deal = DealRecord.model_validate(
        {"id": "d1", "title": "Order #1", "description": f"Call back {PHONE} or {EMAIL}"}
    )
    update = deal_redaction(deal, [EMAIL, PHONE])
    assert update is not None
    assert update.description == "Call back [redacted] or [redacted]"
    assert update.title is None


def test_the_orders_to_redact_are_scrubbed_wherever_they_are_linked(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    # the order went to another contact (say, the shop's guest)
    queue(ctx, upsert_deal(2, email="guest@example.com", fields={"raw_email": "M.Ali@Example"}))
    drain(ctx)
    queue(ctx, redact(2))
    drain(ctx)
    fields = only_deal(crm, 2)["custom_fields"]
    assert "raw_email" not in fields
    assert fields["external_id"] == order_id(2)


def test_the_customers_contact_without_email_or_phone_is_found_by_its_external_id(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    stub = crm.new_contact(
        first_name="Haruka", custom_fields={"external_id": CUSTOMER, "city": "Kyoto"}
    )
    queue(ctx, redact(emails=()))
    drain(ctx)
    assert stub["first_name"] is None
    assert "city" not in stub["custom_fields"]
    assert "redacted" in stub["tags"]


def test_dead_letters_carrying_the_person_are_dropped(ctx: Context) -> None:  # noqa: F811
    theirs = deadletters.command_letter("1-0", Entry(command=upsert_deal(3, email=EMAIL)), "x")
    others = deadletters.command_letter("2-0", Entry(command=upsert_deal(4)), "x")
    raw = deadletters.delivery_letter(
        {"delivery_id": "d-1", "topic": "orders/create", "payload": {"phone": PHONE[1:]}}, "bad"
    )
    for letter in (theirs, others, raw):
        ctx.deadletters.put(letter)
    queue(ctx, redact())
    drain(ctx)
    assert ctx.deadletters.ids() == [others.id]


def test_redaction_waits_for_the_persons_queued_commands_and_then_scrubs_them(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    # the order's create fails once, so it is still queued when the redaction comes up
    crm.fail("POST /create-deals-bulk", "error_before")
    queue(ctx, upsert_deal(5, email=EMAIL, fields={"raw_phone": "0101 717 7777"}))
    queue(ctx, redact())
    drain(ctx, timeout=30)
    deal = only_deal(crm, 5)
    assert "raw_phone" not in deal["custom_fields"]
    (contact,) = [c for c in crm.contacts.values() if c["id"] == deal["contact_id"]]
    assert contact["emails"] == []


def test_the_redaction_itself_is_not_counted_as_a_queued_command(
    ctx: Context,  # noqa: F811
) -> None:
    queue(ctx, redact())
    ((entry_id, _),) = ctx.outbox.entries(Kind.CHANGES)
    assert queued_for(ctx, redact(), entry_id) == 0
