"""Token amounts as the live views and summaries show them: the token's own symbol and decimals."""

from __future__ import annotations

from decimal import Decimal


def base_token_display(address: str) -> tuple[str, int]:
    """(symbol, decimals) of a base token, for display; an unlisted token shows its address, 18 decimals."""
    from defibots.chain.addresses import TOKENS

    known = next((t for t in TOKENS.values() if t.address.lower() == address.lower()), None)
    return (known.symbol, known.decimals) if known else (address[:10], 18)


def units(amount: int, decimals: int, places: int = 6) -> str:
    """A token amount in its smallest unit as a decimal string (exact, then rounded to `places`)."""
    return f"{Decimal(amount).scaleb(-decimals):.{places}f}"
