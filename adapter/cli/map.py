"""`adapter map`: show the CRM commands a payload becomes, without any network.

    adapter map --source shopify --topic orders/create --shop demo.myshopify.com < order.json
    adapter map --source stripe < event.json          # the topic is the event's `type`
    adapter map --source form --form-id contact < submission.json
    adapter map --source woocommerce --topic order.created --shop riyadh-oud < order.json
    adapter map --source salla < event.json            # the topic is the envelope's `event`
    adapter map --source paymob < callback.json        # the topic is the callback's `type`

Exit status: 0 with the commands as JSON on stdout (`[]` when the delivery is
ignored or has nothing to record, with the reason on stderr); 1 when the payload
cannot be mapped (the reason on stderr); 2 when the input or the config is unusable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from adapter.cli.config import add_config_argument, load_settings_or_exit
from adapter.crm.commands import commands_to_json
from adapter.mapping import MappingError, ignore_reason, map_delivery
from adapter.webhook import SourceName, WebhookDelivery

HELP = "Print the CRM commands a webhook payload (on stdin) maps to; no network."
EXIT_UNMAPPABLE = 1
EXIT_USAGE = 2
PLACEHOLDER_SHOP = "example.myshopify.com"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        choices=["shopify", "stripe", "form", "woocommerce", "salla", "paymob"],
    )
    parser.add_argument(
        "--topic",
        help="Shopify topic (orders/create); Stripe event type (default: the payload's `type`)",
    )
    parser.add_argument(
        "--shop",
        metavar="DOMAIN",
        help="Shopify shop domain (default: the payload's shop_domain, else a placeholder); "
        "WooCommerce store or Paymob integration (default: a placeholder)",
    )
    parser.add_argument("--form-id", metavar="ID", help="the form's id, as in [forms.ID]")
    parser.add_argument(
        "--delivery-id",
        metavar="ID",
        help="webhook id of the delivery (default: a hash of the payload)",
    )
    add_config_argument(parser)


def run(args: argparse.Namespace) -> int:
    raw = sys.stdin.buffer.read()
    try:
        payload = _parse(raw, urlencoded_ok=args.source == "form")
        delivery = _delivery(args, payload, raw)
    except _UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings_or_exit(args.config)
    reason = ignore_reason(delivery, settings.mapping)
    if reason is not None:
        print(f"ignored: {reason}", file=sys.stderr)
        print("[]")
        return 0
    try:
        commands = map_delivery(delivery, settings.mapping, settings.forms)
    except MappingError as exc:
        print(f"mapping error: {exc.reason}", file=sys.stderr)
        return EXIT_UNMAPPABLE
    if not commands:
        print("skipped: the payload has nothing to record", file=sys.stderr)
    print(json.dumps(commands_to_json(commands), indent=2, ensure_ascii=False))
    return 0


class _UsageError(Exception):
    pass


# where a WooCommerce, Salla or Paymob payload names its topic (WooCommerce's is a header)
_STORE_TOPIC_KEYS = {"woocommerce": None, "salla": "event", "paymob": "type"}
PLACEHOLDER_STORE = {"woocommerce": "example-store", "paymob": "0"}


def _store_delivery(
    source: str, args: argparse.Namespace, payload: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The topic and the store of a WooCommerce, Salla or Paymob payload."""
    key = _STORE_TOPIC_KEYS[source]
    topic = args.topic or (payload.get(key) if key else None)
    if source == "salla":
        merchant = payload.get("merchant")
        return topic, str(merchant) if isinstance(merchant, int | str) and merchant else None
    return topic, args.shop or PLACEHOLDER_STORE[source]


def _parse(raw: bytes, *, urlencoded_ok: bool) -> dict[str, Any]:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        if urlencoded_ok:
            try:
                return dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True))
            except (UnicodeDecodeError, ValueError):
                pass
        raise _UsageError(f"stdin is not a JSON object: {exc}") from None
    if not isinstance(payload, dict):
        raise _UsageError("stdin must hold a JSON object (the webhook body)")
    return payload


def _delivery(args: argparse.Namespace, payload: dict[str, Any], raw: bytes) -> WebhookDelivery:
    source: SourceName = args.source
    topic = args.topic
    shop = None
    if source == "stripe":
        topic = topic or payload.get("type")
    elif source == "shopify":
        shop = args.shop or payload.get("shop_domain")
        if not isinstance(shop, str) or not shop:
            shop = PLACEHOLDER_SHOP
            print(f"note: no --shop given, using {shop}", file=sys.stderr)
    elif source in _STORE_TOPIC_KEYS:
        topic, shop = _store_delivery(source, args, payload)
    else:
        topic = topic or args.form_id
    if not isinstance(topic, str) or not topic:
        needed = "--form-id" if source == "form" else "--topic"
        raise _UsageError(f"{needed} is required for --source {source}")
    try:
        return WebhookDelivery(
            source=source,
            topic=topic,
            delivery_id=args.delivery_id or hashlib.sha256(raw).hexdigest(),
            received_at=datetime.now(UTC),
            shop_domain=shop,
            form_id=(args.form_id or topic) if source == "form" else None,
            payload=payload,
        )
    except ValidationError as exc:
        raise _UsageError(str(exc)) from None
