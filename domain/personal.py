"""What in the domain is a customer's personal data (SEC-PII, RET-3, RET-4).

A value object's field is marked with `field(metadata=PERSONAL)`; an aggregate names its events'
free-text attributes in `personal_text`. Storage seals both under the customer's
key, so that destroying the key erases them while everything else (levels, times,
scores) stays and replays. Staff identities are not marked: they are the record of
who did what (AUD-1), kept as long as the case.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

ERASED = "[erased]"
"""What a sealed text reads as once its customer's key is destroyed."""

PERSONAL = MappingProxyType({"personal": True})
"""The metadata of a dataclass field that holds a customer's personal data, or free
text that may: `field(metadata=PERSONAL)`."""


def personal_fields(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("personal"))
