"""Personal data rules of the delivery side: what logs may not show, what redaction drops."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_PHONE = re.compile(r"(?<![\w.])\+?\d(?:[ ().-]?\d){6,16}(?![\w])")
# custom_fields keys that hold personal data: dropped when a contact is redacted
_PERSONAL_KEY = re.compile(
    r"(?:^|_)(?:raw|emails?|phones?|mobile|name|names|address\d?|street|city|zip|postal|"
    r"postcode|birth|birthday|birthdate|dob|ip|ssn|national_id|note|notes)(?:_|$)"
)


def scrub(text: str) -> str:
    """`text` with email addresses and phone numbers masked, for logs and status."""
    return _PHONE.sub("[phone]", _EMAIL.sub("[email]", text))


def is_personal_field(key: str) -> bool:
    return bool(_PERSONAL_KEY.search(key.lower()))
