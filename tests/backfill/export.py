"""Shopify's order export, made up: the admin's 75 columns, one row per line item."""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

COLUMNS = [
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total",
    "Discount Code", "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity",
    "Lineitem name", "Lineitem price", "Lineitem compare at price", "Lineitem sku",
    "Lineitem requires shipping", "Lineitem taxable", "Lineitem fulfillment status",
    "Billing Name", "Billing Street", "Billing Address1", "Billing Address2",
    "Billing Company", "Billing City", "Billing Zip", "Billing Province", "Billing Country",
    "Billing Phone", "Shipping Name", "Shipping Street", "Shipping Address1",
    "Shipping Address2", "Shipping Company", "Shipping City", "Shipping Zip",
    "Shipping Province", "Shipping Country", "Shipping Phone", "Notes", "Note Attributes",
    "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount", "Vendor",
    "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags", "Risk Level",
    "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name", "Tax 2 Value",
    "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name", "Tax 5 Value",
    "Phone", "Receipt Number", "Duties", "Billing Province Name", "Shipping Province Name",
]  # fmt: skip

PRODUCTS = [
    ("Cambodian oud oil 3ml", "OUD-CAM-3", "380.00"),
    ("Bakhoor Al Arabia 50g", "BKH-ARB-50", "95.00"),
    ("Rose Taifi attar 6ml", "ATR-TAIF-6", "210.00"),
    ("Musk Tahara 12ml", "MSK-THR-12", "45.00"),
    ("Oud burner, brass", "BRN-BRS-1", "160.00"),
]
FIRST = ["Mahmoud", "Noha", "Omar", "Layla", "Youssef", "Sara", "Khaled", "Mona", "Ahmed"]
LAST = ["Ali", "Hassan", "Farouk", "Al-Harbi", "Nabil", "Saeed", "Al-Qahtani", "Mansour"]
RIYADH = timezone(timedelta(hours=3))


@dataclass(frozen=True)
class ExportedOrder:
    name: str
    order_id: int
    line_items: int


def _phone(rng: random.Random, n: int) -> tuple[str, str, str, str]:
    """(phone, country code, city, province) for an Egyptian or a Saudi customer."""
    if n % 2:
        return f"+2010{rng.randrange(10**8):08d}", "EG", "Cairo", "C"
    return f"+9665{rng.randrange(10**8):08d}", "SA", "Riyadh", "01"


def write_export(
    path: Path, orders: int, seed: int = 7, first_number: int = 1001
) -> list[ExportedOrder]:
    """`orders` orders with 1-3 line items each; every order a customer of its own."""
    rng = random.Random(seed)
    written: list[ExportedOrder] = []
    start = datetime(2025, 1, 1, 9, 0, tzinfo=RIYADH)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for i in range(orders):
            number = first_number + i
            order_id = 5_900_000_000_000 + number
            created = start + timedelta(minutes=17 * i)
            items = [rng.choice(PRODUCTS) for _ in range(1 + i % 3)]
            quantities = [1 + rng.randrange(3) for _ in items]
            subtotal = sum(float(p) * q for (_, _, p), q in zip(items, quantities, strict=True))
            shipping = 25.0
            total = subtotal + shipping
            first, last = FIRST[i % len(FIRST)], LAST[i % len(LAST)]
            phone, country, city, province = _phone(rng, i)
            paid = i % 5 != 0
            for n, ((title, sku, price), quantity) in enumerate(
                zip(items, quantities, strict=True)
            ):
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    {
                        "Name": f"#{number}",
                        "Email": f"customer{number}@example.com",
                        "Created at": created.strftime("%Y-%m-%d %H:%M:%S %z"),
                        "Lineitem quantity": str(quantity),
                        "Lineitem name": title,
                        "Lineitem price": price,
                        "Lineitem sku": sku,
                        "Lineitem requires shipping": "true",
                        "Lineitem taxable": "true",
                        "Lineitem fulfillment status": "pending",
                        "Vendor": "Riyadh Oud",
                    }
                )
                if n == 0:
                    row.update(
                        {
                            "Financial Status": "paid" if paid else "pending",
                            "Paid at": (created + timedelta(minutes=2)).strftime(
                                "%Y-%m-%d %H:%M:%S %z"
                            )
                            if paid
                            else "",
                            "Fulfillment Status": "unfulfilled",
                            "Accepts Marketing": "yes" if i % 3 == 0 else "no",
                            "Currency": "SAR",
                            "Subtotal": f"{subtotal:.2f}",
                            "Shipping": f"{shipping:.2f}",
                            "Taxes": f"{total * 0.15 / 1.15:.2f}",
                            "Total": f"{total:.2f}",
                            "Discount Amount": "0.00",
                            "Shipping Method": "Standard",
                            "Billing Name": f"{first} {last}",
                            "Billing Address1": "King Fahd Road 7421",
                            "Billing City": city,
                            "Billing Province": province,
                            "Billing Country": country,
                            # Excel-proofed, as exports often are
                            "Billing Phone": f"'{phone}",
                            "Shipping Name": f"{first} {last}",
                            "Shipping Address1": "King Fahd Road 7421",
                            "Shipping City": city,
                            "Shipping Country": country,
                            "Shipping Phone": phone,
                            "Notes": "Please call before delivery" if i % 4 == 0 else "",
                            "Note Attributes": "preferred_contact: whatsapp" if i % 4 == 0 else "",
                            "Payment Method": "mada",
                            "Refunded Amount": "0.00",
                            "Outstanding Balance": "0.00" if paid else f"{total:.2f}",
                            "Id": str(order_id),
                            "Tags": "backfill, white-friday" if i % 6 == 0 else "",
                            "Risk Level": "Low",
                            "Source": "web",
                            "Tax 1 Name": "VAT 15%",
                            "Tax 1 Value": f"{total * 0.15 / 1.15:.2f}",
                            "Phone": phone,
                        }
                    )
                out.writerow([row[c] for c in COLUMNS])
            written.append(ExportedOrder(f"#{number}", order_id, len(items)))
    return written
