"""A USB vendor:product id as lsusb prints it, for the smart glasses seen on USB.

Its own leaf, so the config's checks (edged.config.health) parse `usb_ids` without importing
the collectors.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UsbId:
    vendor: int
    product: int | None  # None: any product of this vendor

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """`"1234:abcd"` or `"1234:*"` (hex, as lsusb prints); ValueError otherwise."""
        vendor, sep, product = text.strip().lower().partition(":")
        if not sep or len(vendor) != 4 or len(product) not in (1, 4):
            raise ValueError(f"expected vvvv:pppp in hex, got {text!r}")
        return cls(int(vendor, 16), None if product == "*" else int(product, 16))

    def matches(self, vendor: int, product: int) -> bool:
        return vendor == self.vendor and self.product in (None, product)
