"""The X-Flashbots-Signature header: who sent a relay request, proven over the exact body bytes.

The value is `<address>:<signature>` where the signature is an EIP-191 personal-message signature over
the *text* "0x" + hex(keccak256(body)). Relays hash the bytes they receive, so the client must sign the
bytes it sends (serialize once) — re-serialized JSON with other whitespace fails the check. The key is a
reputation key only; it never holds funds.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, keccak, to_checksum_address

SIGNATURE_HEADER = "X-Flashbots-Signature"


class SignatureError(Exception):
    """A request whose signature header is missing, malformed, or does not match its body."""


def body_digest_text(body: bytes) -> str:
    """The 66-character text that is signed: "0x" + 64 hex digits of keccak256(body)."""
    return "0x" + keccak(body).hex()


def sign_body(body: bytes, account: LocalAccount) -> str:
    """The header value for these exact body bytes."""
    signed = account.sign_message(encode_defunct(text=body_digest_text(body)))
    return f"{account.address}:0x{bytes(signed.signature).hex()}"


def verify_header(header: str | None, body: bytes) -> str:
    """The checksummed signer address, or SignatureError saying what is wrong."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    address, sep, signature = header.strip().partition(":")
    if not sep or not is_hex_address(address):
        raise SignatureError(f"invalid {SIGNATURE_HEADER} header: expected <address>:<signature>")
    claimed = to_checksum_address(address)
    try:
        sig_bytes = bytes.fromhex(signature[2:] if signature.startswith(("0x", "0X")) else signature)
        recovered = Account.recover_message(encode_defunct(text=body_digest_text(body)), signature=sig_bytes)
    except Exception:  # malformed signature bytes raise assorted errors in eth_keys
        raise SignatureError(f"error in signature check {claimed}") from None
    if to_checksum_address(recovered) != claimed:
        raise SignatureError(f"error in signature check {claimed}")
    return str(claimed)
