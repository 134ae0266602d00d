"""Addresses per chain, in one place. The devnet replicas use their chain's real addresses on purpose: the
mainnet replica (31337) mainnet's, the Arbitrum replica (31338) Arbitrum One's."""

from __future__ import annotations

from dataclasses import dataclass

from eth_typing import ChecksumAddress
from eth_utils import to_checksum_address

MAINNET = 1
DEVNET = 31337
ARBITRUM = 42161
ARBITRUM_DEVNET = 31338
"""The Arbitrum replica's id: not Arbitrum One's, so nothing signed on the replica is valid on Arbitrum."""


def _a(text: str) -> ChecksumAddress:
    return to_checksum_address(text)


@dataclass(frozen=True)
class Token:
    symbol: str
    name: str
    decimals: int
    address: ChecksumAddress


TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("WETH", "Wrapped Ether", 18, _a("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2")),
        Token("USDC", "USD Coin", 6, _a("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48")),
        Token("USDT", "Tether USD", 6, _a("0xdAC17F958D2ee523a2206206994597C13D831ec7")),
        Token("DAI", "Dai Stablecoin", 18, _a("0x6B175474E89094C44Da98b954EedeAC495271d0F")),
        Token("WBTC", "Wrapped BTC", 8, _a("0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599")),
    )
}

UNISWAP_V2_FACTORY = _a("0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f")
UNISWAP_V2_ROUTER02 = _a("0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D")
UNISWAP_V3_FACTORY = _a("0x1F98431c8aD98523631AE4a59f267346ea31F984")
UNISWAP_V3_FACTORY_OWNER = _a("0x1a9C8182C09F50C8318d769245beA52c32BE35BC")
UNISWAP_V3_SWAP_ROUTER = _a("0xE592427A0AEce92De3Edee1F18E0157C05861564")
UNISWAP_V3_SWAP_ROUTER02 = _a("0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45")
UNISWAP_V3_QUOTER_V2 = _a("0x61fFE014bA17989E743c5F6cB21bF9697530B21e")
UNISWAP_V3_POSITION_MANAGER = _a("0xC36442b4a4522E871399CD717aBDD847Ab11FE88")

# CREATE2 init code hashes: equal on mainnet and on the replica (same npm bytecode).
UNISWAP_V2_PAIR_INIT_CODE_HASH = bytes.fromhex(
    "96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f"
)
UNISWAP_V3_POOL_INIT_CODE_HASH = bytes.fromhex(
    "e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54"
)

# fee (hundredths of a bip) -> tick spacing, as enabled on mainnet's V3 factory.
V3_FEE_TICK_SPACING: dict[int, int] = {100: 1, 500: 10, 3000: 60, 10000: 200}


@dataclass(frozen=True)
class AddressBook:
    """One chain's tokens and Uniswap deployments. Every per-chain address lives in a book here, so a
    strategy on several chains never mixes one chain's contracts into another's."""

    name: str
    tokens: dict[str, Token]
    v2_factory: ChecksumAddress
    v2_router02: ChecksumAddress
    v3_factory: ChecksumAddress
    v3_swap_router: ChecksumAddress
    v3_swap_router02: ChecksumAddress
    v3_quoter_v2: ChecksumAddress
    v3_position_manager: ChecksumAddress

    def token(self, symbol_or_address: str) -> Token:
        """Look a token up by symbol or address; unknown ones are a user error in config."""
        from defibots.errors import UserError

        key = symbol_or_address.upper()
        if key in self.tokens:
            return self.tokens[key]
        for t in self.tokens.values():
            if t.address.lower() == symbol_or_address.lower():
                return t
        raise UserError(
            f"unknown token {symbol_or_address!r} in the {self.name} address book "
            f"(known: {', '.join(self.tokens)})"
        )


MAINNET_BOOK = AddressBook(
    name="mainnet", tokens=TOKENS, v2_factory=UNISWAP_V2_FACTORY, v2_router02=UNISWAP_V2_ROUTER02,
    v3_factory=UNISWAP_V3_FACTORY, v3_swap_router=UNISWAP_V3_SWAP_ROUTER,
    v3_swap_router02=UNISWAP_V3_SWAP_ROUTER02, v3_quoter_v2=UNISWAP_V3_QUOTER_V2,
    v3_position_manager=UNISWAP_V3_POSITION_MANAGER,
)  # fmt: skip

ARBITRUM_TOKENS: dict[str, Token] = {
    t.symbol: t
    for t in (
        Token("WETH", "Wrapped Ether", 18, _a("0x82aF49447D8a07e3bd95BD0d56f35241523fBab1")),
        Token("USDC", "USD Coin", 6, _a("0xaf88d065e77c8cC2239327C5EDb3A432268e5831")),  # native, not USDC.e
        Token("WBTC", "Wrapped BTC", 8, _a("0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f")),
    )
}
ARBITRUM_UNISWAP_V3_FACTORY_OWNER = _a("0x2BAD8182C09F50c8318d769245beA52C32Be46CD")
"""The factory's owner on Arbitrum One today: mainnet's Uniswap timelock under Arbitrum's L1->L2 alias."""

# Uniswap V3 and its routers sit at mainnet's addresses on Arbitrum One too (Uniswap's deployment list);
# Uniswap V2 there is a later, separate deployment (the Arbitrum replica does not place it).
ARBITRUM_BOOK = AddressBook(
    name="arbitrum", tokens=ARBITRUM_TOKENS, v2_factory=_a("0xf1D7CC64Fb4452F05c498126312eBE29f30Fbcf9"),
    v2_router02=_a("0x4752ba5DBc23f44D87826276BF6Fd6b1C372aD24"), v3_factory=UNISWAP_V3_FACTORY,
    v3_swap_router=UNISWAP_V3_SWAP_ROUTER, v3_swap_router02=UNISWAP_V3_SWAP_ROUTER02,
    v3_quoter_v2=UNISWAP_V3_QUOTER_V2, v3_position_manager=UNISWAP_V3_POSITION_MANAGER,
)  # fmt: skip

BOOKS: dict[str, AddressBook] = {MAINNET_BOOK.name: MAINNET_BOOK, ARBITRUM_BOOK.name: ARBITRUM_BOOK}
"""Every address book, by name (what `address_book` in a `[chains.NAME]` section names)."""
CHAIN_BOOKS: dict[int, str] = {
    MAINNET: "mainnet", DEVNET: "mainnet", ARBITRUM: "arbitrum", ARBITRUM_DEVNET: "arbitrum"
}  # fmt: skip
"""The book of each known chain id; each replica holds its chain's contracts at that chain's addresses."""


def address_book(chain_id: int | None = None, name: str | None = None) -> AddressBook:
    """The book named `name`, else the one of `chain_id`; neither known is one UserError line."""
    from defibots.errors import UserError

    if name is not None:
        if name not in BOOKS:
            raise UserError(f"unknown address book {name!r} (known: {', '.join(BOOKS)})")
        return BOOKS[name]
    if chain_id is not None and chain_id in CHAIN_BOOKS:
        return BOOKS[CHAIN_BOOKS[chain_id]]
    raise UserError(
        f"no address book for chain {chain_id}: set address_book in its [chains.NAME] section "
        f"(known: {', '.join(BOOKS)})"
    )


def token(symbol_or_address: str) -> Token:
    """Look a token up by symbol or address in the mainnet book; unknown ones are a user error in config."""
    from defibots.errors import UserError

    key = symbol_or_address.upper()
    if key in TOKENS:
        return TOKENS[key]
    for t in TOKENS.values():
        if t.address.lower() == symbol_or_address.lower():
            return t
    raise UserError(f"unknown token {symbol_or_address!r} (known: {', '.join(TOKENS)})")
