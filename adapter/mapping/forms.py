"""Lead-form submissions into one CreateLead: a contact and a deal.

A form's `fields` table maps its field names to targets; names are matched
case-, space- and punctuation-insensitively (`"E-mail Address"` is `e_mail_address`,
`fields[email]` is `email`). Targets:

    first_name  last_name  full_name (alias: name)  email  phone  company  country
    opt_in  message (the deal's description)  tags  ignore
    deal.value  deal.currency  deal.description
    custom.<key>          a custom field of the deal
    contact.custom.<key>  a custom field of the contact

Fields no table mentions are recognised by common names (`name`, `email`, `mobile`,
`whatsapp`, `company`, `message`, `utm_*`, ...); anything else becomes a custom
field of the deal, so nothing the visitor typed is lost.

External id: `form:{form_id}:{submission}`, the submission being the payload's own
id (`submission_id`, `entry_id`, `response_id`, `id`) or else the delivery id
(webhook-id or body hash).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from adapter.crm.commands import AnyCommand, CreateLead
from adapter.crm.models import Lead, LeadDeal
from adapter.crm.normalize import (
    custom_field_key,
    money_amount,
    normalize_currency,
    normalize_description,
    normalize_name,
    normalize_source,
    normalize_stage,
    normalize_tags,
    phone_region,
)
from adapter.mapping import _fields as f
from adapter.mapping._person import Person
from adapter.mapping._titles import render
from adapter.mapping.config import MappingConfig
from adapter.mapping.errors import MappingError
from adapter.webhook import WebhookDelivery

_CONTACT_TARGETS = frozenset(
    {"first_name", "last_name", "full_name", "email", "phone", "company", "country", "opt_in"}
)
_OTHER_TARGETS = frozenset({"message", "tags", "ignore", "deal.value", "deal.currency"})
_ALIASES = {"name": "full_name", "deal.description": "message", "description": "message"}
_CUSTOM = "custom."
_CONTACT_CUSTOM = "contact.custom."

_COMMON_NAMES = {
    **dict.fromkeys(
        ("name", "full_name", "fullname", "your_name", "customer_name", "contact_name"),
        "full_name",
    ),
    **dict.fromkeys(("first_name", "firstname", "fname", "given_name"), "first_name"),
    **dict.fromkeys(("last_name", "lastname", "lname", "surname", "family_name"), "last_name"),
    **dict.fromkeys(("email", "email_address", "e_mail", "mail", "your_email"), "email"),
    **dict.fromkeys(
        (
            "phone",
            "phone_number",
            "mobile",
            "mobile_number",
            "mobile_phone",
            "whatsapp",
            "whatsapp_number",
            "tel",
            "telephone",
            "cell",
            "your_phone",
        ),
        "phone",
    ),
    **dict.fromkeys(
        ("company", "company_name", "organization", "organisation", "business_name"), "company"
    ),
    **dict.fromkeys(
        (
            "message",
            "your_message",
            "comments",
            "comment",
            "notes",
            "note",
            "inquiry",
            "enquiry",
        ),
        "message",
    ),
    **dict.fromkeys(("country", "country_code"), "country"),
    **dict.fromkeys(("budget", "amount", "deal_value"), "deal.value"),
    **dict.fromkeys(("currency",), "deal.currency"),
    **dict.fromkeys(("tags",), "tags"),
    **dict.fromkeys(
        ("opt_in", "optin", "consent", "marketing_consent", "newsletter", "subscribe"), "opt_in"
    ),
    **dict.fromkeys(
        (
            "g_recaptcha_response",
            "h_captcha_response",
            "cf_turnstile_response",
            "csrf_token",
            "csrfmiddlewaretoken",
            "token",
        ),
        "ignore",
    ),
}
_SUBMISSION_KEYS = ("submission_id", "submissionid", "entry_id", "response_id", "id")
_TIME_KEYS = ("submitted_at", "created_at", "timestamp")
_TRUE = frozenset({"1", "true", "yes", "y", "on", "checked", "subscribed", "agree", "accepted"})
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+(\.\d+)?$")
_BRACKETED = re.compile(r"\[([^\[\]]+)\]$")
_JUNK = re.compile(r"[^a-z0-9]+")


class FormSettings(Protocol):
    """What the mapper reads of a form's config (`adapter.settings.FormConfig`)."""

    @property
    def name(self) -> str: ...
    @property
    def fields(self) -> dict[str, str]: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def source(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def honeypot_field(self) -> str | None: ...


@dataclass(frozen=True)
class _DefaultForm:
    """A form with no config entry: every field recognised by its name."""

    name: str = "Web form"
    fields: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    source: str = "form"
    stage: str = "new"
    honeypot_field: str | None = None


def field_key(name: str) -> str:
    """A form field's name as matched against tables: `"E-mail Address"` -> `e_mail_address`."""
    inner = _BRACKETED.search(name.strip())
    base = inner.group(1) if inner else name
    return _JUNK.sub("_", base.lower()).strip("_")


def field_target_errors(fields: Mapping[str, str]) -> list[str]:
    """Problems in a form's `fields` table, for config checks; empty when fine."""
    return [
        f"field {name!r}: unknown target {target!r}"
        for name, target in fields.items()
        if _target(target) is None
    ]


def _target(raw: str) -> str | None:
    target = _ALIASES.get(raw.strip().lower(), raw.strip().lower())
    if target in _CONTACT_TARGETS or target in _OTHER_TARGETS:
        return target
    for prefix in (_CONTACT_CUSTOM, _CUSTOM):
        if target.startswith(prefix) and target[len(prefix) :].strip():
            return prefix + custom_field_key(target[len(prefix) :].strip())
    return None


def map_delivery(
    delivery: WebhookDelivery,
    config: MappingConfig,
    form: FormSettings | None = None,
) -> list[AnyCommand]:
    settings: FormSettings = form if form is not None else _DefaultForm()
    form_id = f.text(delivery.form_id) or delivery.topic
    stage = normalize_stage(settings.stage)
    if stage is None or stage not in config.stages:
        raise MappingError(
            f"form {form_id!r}: stage {settings.stage!r} is not among the pipeline stages "
            f"{config.stages}"
        )
    submission = _Submission(default_region=config.default_phone_region)
    submission.read(delivery.payload, settings)
    person = submission.person
    if not person.reachable:
        raise MappingError(f"form {form_id!r}: the submission has no valid email or phone")

    submission_id = _submission_id(delivery)
    external_id = _external_id(form_id, submission_id)
    source = normalize_source(settings.source)
    all_tags = normalize_tags([*settings.tags, *submission.tags]) or None
    value = submission.value
    title = render(
        config.forms.title,
        {
            "form": settings.name,
            "form_id": form_id,
            "person": person.display_name() or "",
            "submission": submission_id,
        },
    )
    lead = Lead(
        contact=person.contact(
            source=source,
            tags=all_tags,
            opt_in_status=submission.opt_in,
            custom_fields=f.custom_fields(
                {**submission.contact_fields, "company": submission.company}
            )
            or None,
        ),
        deal=LeadDeal(
            title=title,
            value=value,
            currency=submission.currency or config.forms.currency,
            stage=stage,
            source=source,
            tags=all_tags,
            description=normalize_description(submission.message),
            custom_fields=f.custom_fields(
                {
                    **submission.deal_fields,
                    "external_id": external_id,
                    "form_id": form_id,
                    "form_name": settings.name,
                    "submission_id": submission_id,
                    "company": submission.company,
                    "raw_value": submission.raw_value,
                    **person.raw_fields(),
                }
            ),
        ),
    )
    return [
        CreateLead(
            external_id=external_id,
            source_updated_at=_submitted_at(delivery.payload) or delivery.received_at,
            lead=lead,
        )
    ]


@dataclass
class _Submission:
    default_region: str
    person: Person = field(init=False)
    company: str | None = None
    message: str | None = None
    opt_in: bool | None = None
    value: Decimal | None = None
    raw_value: str | None = None
    currency: str | None = None
    region: str | None = None
    tags: list[str] = field(default_factory=list)
    deal_fields: dict[str, Any] = field(default_factory=dict)
    contact_fields: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.person = Person(default_region=self.default_region)

    def read(self, payload: dict[str, Any], settings: FormSettings) -> None:
        configured = {field_key(name): target for name, target in settings.fields.items()}
        honeypot = field_key(settings.honeypot_field) if settings.honeypot_field else None
        routed: list[tuple[str, Any]] = []
        for name, value in payload.items():
            key = field_key(name)
            if not key or key == honeypot or key in _SUBMISSION_KEYS or key in _TIME_KEYS:
                continue
            if key in configured:
                target = _target(configured[key])
                if target is None:
                    raise MappingError(
                        f"form field {name!r} is mapped to unknown target {configured[key]!r}"
                    )
            else:
                target = _default_target(key)
            routed.append((target, value))
        # the country first: it is the region hint of every phone number
        routed.sort(key=lambda item: item[0] != "country")
        names: dict[str, str] = {}
        for target, value in routed:
            self._apply(target, value, names)
        self.person.add_names(names.get("first_name"), names.get("last_name"))
        self.person.add_full_name(names.get("full_name"))

    def _apply(self, target: str, value: Any, names: dict[str, str]) -> None:
        scalar = _scalar(value)
        if target in ("first_name", "last_name", "full_name"):
            if scalar is not None:
                names.setdefault(target, scalar)
        elif target == "email":
            for item in _items(value):
                self.person.add_email(item)
        elif target == "phone":
            for item in _items(value):
                self.person.add_phone(item, self.region)
        elif target == "country":
            self.region = self.region or phone_region(scalar)
            self.contact_fields["country"] = scalar
        elif target == "company":
            self.company = self.company or normalize_name(scalar)
        elif target == "message":
            self.message = "\n\n".join(m for m in (self.message, scalar) if m) or None
        elif target == "opt_in":
            self.opt_in = _truthy(value)
        elif target == "tags":
            self.tags.extend(normalize_tags(value))
        elif target == "deal.value":
            self.value = _amount(scalar)
            if self.value is None and scalar is not None:
                self.raw_value = scalar[:100]
        elif target == "deal.currency":
            self.currency = normalize_currency(scalar)
        elif target.startswith(_CONTACT_CUSTOM):
            self.contact_fields[target[len(_CONTACT_CUSTOM) :]] = _custom_value(value)
        elif target.startswith(_CUSTOM):
            self.deal_fields[target[len(_CUSTOM) :]] = _custom_value(value)


def _default_target(key: str) -> str:
    return _COMMON_NAMES.get(key) or _CUSTOM + key


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return f.text(value if not isinstance(value, float) else repr(value))
    if isinstance(value, list):
        return ", ".join(f.texts(value)) or None
    return None


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _custom_value(value: Any) -> Any:
    """Strings trimmed; other JSON kept as it came."""
    if isinstance(value, str):
        return value.strip()[:5000]
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    scalar = _scalar(value)
    return scalar is not None and scalar.lower() in _TRUE


def _amount(raw: str | None) -> Decimal | None:
    if raw is None:
        return None
    cleaned = raw.replace(" ", "")
    if _THOUSANDS.match(cleaned):
        cleaned = cleaned.replace(",", "")
    return money_amount(cleaned)


def _submission_id(delivery: WebhookDelivery) -> str:
    by_key = {field_key(name): value for name, value in delivery.payload.items()}
    for key in _SUBMISSION_KEYS:
        found = f.text(by_key.get(key))
        if found is not None:
            return found
    return delivery.delivery_id


def _external_id(form_id: str, submission_id: str) -> str:
    external_id = f"form:{form_id}:{submission_id}"
    if len(external_id) <= 255:
        return external_id
    digest = hashlib.sha256(submission_id.encode("utf-8", "replace")).hexdigest()[:40]
    return f"form:{form_id[:200]}:{digest}"


def _submitted_at(payload: dict[str, Any]) -> datetime | None:
    by_key = {field_key(name): value for name, value in payload.items()}
    for key in _TIME_KEYS:
        found = f.timestamp(by_key.get(key))
        if found is not None:
            return found
    return None
