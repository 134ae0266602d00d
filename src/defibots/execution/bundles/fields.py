"""Strict parsing of bundle field values (JSON-RPC params and bundle files): any malformed value is one
BundleFormatError line naming the field."""

from __future__ import annotations

from typing import Any

from eth_utils import is_checksum_address, is_hex_address, to_checksum_address

from defibots.errors import UserError


class BundleFormatError(UserError):
    """A bundle (file, JSON params, or raw transaction) that cannot be used as given."""


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def parse_hex_bytes(value: Any, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith(("0x", "0X")):
        raise BundleFormatError(f"{what} must be a 0x-prefixed hex string, got {short_repr(value)}")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise BundleFormatError(f"{what} is not valid hex: {short_repr(value)}") from None


def parse_quantity(value: Any, what: str) -> int:
    """An int, a decimal string or a 0x-hex string; never negative, never a float or bool."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BundleFormatError(f"{what} must be an integer or a hex/decimal string, got {short_repr(value)}")
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise BundleFormatError(f"{what} is not a number: {short_repr(value)}") from None
    else:
        number = value
    if number < 0:
        raise BundleFormatError(f"{what} must not be negative, got {number}")
    return number


def parse_address(value: Any, what: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise BundleFormatError(f"{what} is not a 20-byte hex address: {short_repr(value)}")
    if value[2:] != value[2:].lower() and value[2:] != value[2:].upper() and not is_checksum_address(value):
        raise BundleFormatError(f"{what} has a wrong checksum: {value}")
    return str(to_checksum_address(value))


def short_repr(value: Any) -> str:
    """repr() cut to 48 characters, for error lines that quote user input."""
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "..."


def parse_hash(value: Any, what: str) -> bytes:
    data = parse_hex_bytes(value, what)
    if len(data) != 32:
        raise BundleFormatError(f"{what} must be 32 bytes, got {len(data)}")
    return data
