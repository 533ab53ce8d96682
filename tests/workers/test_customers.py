"""Completing a contact with what an event knows; contacts without email or phone.
In-process against the in-memory CRM (fixtures from test_delivery.py)."""

from __future__ import annotations

from adapter.crm.commands import CompleteContact, UpsertContact
from adapter.crm.models import Contact, ContactRecord
from tests.workers.commands import SHOP, T0, order_id
from tests.workers.fakecrm import FakeCrm
from tests.workers.test_delivery import crm, ctx, drain, queue  # noqa: F401
from workers.context import Context
from workers.customers import STUB_PREFIX, _Offer, merged

CUSTOMER = f"shopify:{SHOP}:customer:77"


def record(**fields: object) -> ContactRecord:
    return ContactRecord.model_validate({"id": "c1", **fields})


def test_merge_adds_emails_and_phones_and_removes_nothing() -> None:
    current = record(emails=["a@example.com"], phones=["+201017177777"])
    offer = _Offer(emails=["b@example.com", "a@example.com"], phones=["+966501234567"])
    assert merged(current, offer) == {
        "emails": ["a@example.com", "b@example.com"],
        "phones": ["+201017177777", "+966501234567"],
    }


def test_merge_never_overwrites_a_name_someone_typed() -> None:
    current = record(first_name="Mo", emails=["a@example.com"])
    assert merged(current, _Offer(emails=[], phones=[], first_name="Mahmoud")) == {}


def test_merge_gives_a_nameless_contact_the_events_name() -> None:
    current = record(emails=["a@example.com"])
    offer = _Offer(emails=[], phones=[], first_name="Mahmoud", last_name="Ali")
    assert merged(current, offer) == {"first_name": "Mahmoud", "last_name": "Ali"}


def completion(contact_id: str, **fields: object) -> CompleteContact:
    ctx_deal = order_id(1)
    return CompleteContact.model_validate(
        {
            "external_id": f"{ctx_deal}:contact",
            "deal_external_id": ctx_deal,
            "source_updated_at": T0,
            **fields,
        }
    )


def test_a_nameless_contact_gets_the_name_and_the_new_phone(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    contact = crm.new_contact(emails=["a@example.com"], updated_at="2026-11-01T10:00:00Z")
    ctx.idmap.record(order_id(1), deal_id="d1", contact_id=contact["id"])
    offer = completion(
        contact["id"], emails=["a@example.com"], phones=["+201017177777"], first_name="Mahmoud"
    )
    queue(ctx, offer)
    drain(ctx)
    assert contact["first_name"] == "Mahmoud"
    assert contact["phones"] == ["+201017177777"]
    assert contact["emails"] == ["a@example.com"]


def test_a_completion_waits_for_its_deal_to_find_the_contact(
    ctx: Context,  # noqa: F811
) -> None:
    queue(ctx, completion("unknown", emails=["a@example.com", "b@example.com"]))
    drain(ctx)  # missing_deal_grace is 1 s here: it waited, then gave up
    (letter,) = ctx.deadletters.listing()
    assert "waiting for the deal" in letter.error


def test_a_customer_without_email_or_phone_is_created_once_and_found_again(
    ctx: Context,  # noqa: F811
    crm: FakeCrm,  # noqa: F811
) -> None:
    fields = {"external_id": CUSTOMER, "shopify_customer_id": "77"}
    stub = Contact(first_name="Haruka", custom_fields=fields)
    queue(ctx, UpsertContact(external_id=CUSTOMER, source_updated_at=T0, contact=stub))
    drain(ctx)
    (created,) = crm.contacts.values()
    assert ctx.idmap.get(CUSTOMER).contact_id == created["id"]
    assert ctx.redis.get(STUB_PREFIX + CUSTOMER)
    # the customer's later event brings an email: merged into the same contact
    later = stub.model_copy(update={"emails": ["haruka@example.com"]})
    queue(
        ctx,
        UpsertContact(external_id=CUSTOMER, source_updated_at=T0.replace(hour=13), contact=later),
    )
    drain(ctx)
    (contact,) = crm.contacts.values()
    assert contact["emails"] == ["haruka@example.com"]
    assert not ctx.redis.get(STUB_PREFIX + CUSTOMER)
