"""GMX V2 DataStore keys and role keys, derived as GMX derives them (the SDK's configs/dataStore
hashString and hashData; contracts-gmx/Keys.sol): a base key is keccak256(abi.encode("NAME")), a keyed value
keccak256(abi.encode(base, args...)). The stand-in's own keys (funding per side) follow Keys.sol."""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak


def hash_string(name: str) -> bytes:
    """keccak256(abi.encode(name)): a base key or a role key."""
    return keccak(encode(["string"], [name]))


def hash_data(types: list[str], values: list[object]) -> bytes:
    return keccak(encode(types, values))


def _keyed(name: str, types: list[str], values: list[object]) -> bytes:
    return hash_data(["bytes32", *types], [hash_string(name), *values])


# roles
CONTROLLER = hash_string("CONTROLLER")
ORDER_KEEPER = hash_string("ORDER_KEEPER")
LIQUIDATION_KEEPER = hash_string("LIQUIDATION_KEEPER")
ROUTER_PLUGIN = hash_string("ROUTER_PLUGIN")

# lists and globals
MARKET_LIST = hash_string("MARKET_LIST")
NONCE = hash_string("NONCE")
MIN_COLLATERAL_USD = hash_string("MIN_COLLATERAL_USD")
MIN_POSITION_SIZE_USD = hash_string("MIN_POSITION_SIZE_USD")
MAX_PNL_FACTOR_FOR_TRADERS = hash_string("MAX_PNL_FACTOR_FOR_TRADERS")
ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1 = hash_string("ESTIMATED_GAS_FEE_BASE_AMOUNT_V2_1")


def market_field(market: str, field: str) -> bytes:
    """MarketStoreUtils' keccak256(abi.encode(marketToken, keccak256(abi.encode(FIELD))))."""
    return hash_data(["address", "bytes32"], [market, hash_string(field)])


def order_key(data_store: str, nonce: int) -> bytes:
    return hash_data(["address", "uint256"], [data_store, nonce])


def is_oracle_provider_enabled(provider: str) -> bytes:
    return _keyed("IS_ORACLE_PROVIDER_ENABLED", ["address"], [provider])


def position_fee_factor(market: str, balance_was_improved: bool) -> bytes:
    return _keyed("POSITION_FEE_FACTOR", ["address", "bool"], [market, balance_was_improved])


def position_impact_factor(market: str, is_positive: bool) -> bytes:
    return _keyed("POSITION_IMPACT_FACTOR", ["address", "bool"], [market, is_positive])


def position_impact_exponent_factor(market: str, is_positive: bool) -> bytes:
    return _keyed("POSITION_IMPACT_EXPONENT_FACTOR", ["address", "bool"], [market, is_positive])


def max_position_impact_factor(market: str, is_positive: bool) -> bytes:
    return _keyed("MAX_POSITION_IMPACT_FACTOR", ["address", "bool"], [market, is_positive])


def max_position_impact_factor_for_liquidations(market: str) -> bytes:
    return _keyed("MAX_POSITION_IMPACT_FACTOR_FOR_LIQUIDATIONS", ["address"], [market])


def position_impact_pool_amount(market: str) -> bytes:
    return _keyed("POSITION_IMPACT_POOL_AMOUNT", ["address"], [market])


def min_collateral_factor(market: str) -> bytes:
    return _keyed("MIN_COLLATERAL_FACTOR", ["address"], [market])


def min_collateral_factor_for_liquidation(market: str) -> bytes:
    return _keyed("MIN_COLLATERAL_FACTOR_FOR_LIQUIDATION", ["address"], [market])


def max_pnl_factor(pnl_factor_type: bytes, market: str, is_long: bool) -> bytes:
    return _keyed("MAX_PNL_FACTOR", ["bytes32", "address", "bool"], [pnl_factor_type, market, is_long])


def open_interest(market: str, collateral_token: str, is_long: bool) -> bytes:
    return _keyed("OPEN_INTEREST", ["address", "address", "bool"], [market, collateral_token, is_long])


def open_interest_in_tokens(market: str, collateral_token: str, is_long: bool) -> bytes:
    return _keyed(
        "OPEN_INTEREST_IN_TOKENS", ["address", "address", "bool"], [market, collateral_token, is_long]
    )


def max_open_interest(market: str, is_long: bool) -> bytes:
    return _keyed("MAX_OPEN_INTEREST", ["address", "bool"], [market, is_long])


def pool_amount(market: str, token: str) -> bytes:
    return _keyed("POOL_AMOUNT", ["address", "address"], [market, token])


def reserve_factor(market: str, is_long: bool) -> bytes:
    return _keyed("RESERVE_FACTOR", ["address", "bool"], [market, is_long])


def borrowing_factor(market: str, is_long: bool) -> bytes:
    return _keyed("BORROWING_FACTOR", ["address", "bool"], [market, is_long])


def borrowing_exponent_factor(market: str, is_long: bool) -> bytes:
    return _keyed("BORROWING_EXPONENT_FACTOR", ["address", "bool"], [market, is_long])


def cumulative_borrowing_factor(market: str, is_long: bool) -> bytes:
    return _keyed("CUMULATIVE_BORROWING_FACTOR", ["address", "bool"], [market, is_long])


def funding_factor(market: str) -> bytes:
    return _keyed("FUNDING_FACTOR", ["address"], [market])


def funding_exponent_factor(market: str) -> bytes:
    return _keyed("FUNDING_EXPONENT_FACTOR", ["address"], [market])


def funding_fee_amount_per_size(market: str, is_long: bool) -> bytes:
    """Stand-in: the side's cumulative funding paid, a USD factor per USD of size (GMX: per collateral)."""
    return _keyed("FUNDING_FEE_AMOUNT_PER_SIZE", ["address", "bool"], [market, is_long])


def claimable_funding_amount_per_size(market: str, is_long: bool) -> bytes:
    """Stand-in: the side's cumulative funding received, a USD factor per USD of size."""
    return _keyed("CLAIMABLE_FUNDING_AMOUNT_PER_SIZE", ["address", "bool"], [market, is_long])


def cumulative_borrowing_factor_updated_at(market: str, is_long: bool) -> bytes:
    return _keyed("CUMULATIVE_BORROWING_FACTOR_UPDATED_AT", ["address", "bool"], [market, is_long])


def funding_updated_at(market: str) -> bytes:
    return _keyed("FUNDING_UPDATED_AT", ["address"], [market])


def use_open_interest_in_tokens_for_balance(market: str) -> bytes:
    """A bool: price impact balances the sides' open interest in index tokens, not in USD."""
    return _keyed("USE_OPEN_INTEREST_IN_TOKENS_FOR_BALANCE", ["address"], [market])


def virtual_token_id(token: str) -> bytes:
    """A bytes32: the virtual token id of an index token (zero: none)."""
    return _keyed("VIRTUAL_TOKEN_ID", ["address"], [token])


def virtual_inventory_for_positions(virtual_token_id: bytes) -> bytes:
    """An int: the virtual position inventory of a virtual token id."""
    return _keyed("VIRTUAL_INVENTORY_FOR_POSITIONS", ["bytes32"], [virtual_token_id])
