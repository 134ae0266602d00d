"""The inputs of the GMX execution model (protocols/gmx_v2/execution.py) read from the chain at a block.

A market's `MarketParameters` and `MarketLedger` come from its DataStore values (the keys of `keys`), a
position and an order from SyntheticsReader.getPosition / getOrder. The market's tokens are its
Market.Props (`GmxReader.market`); the model needs no decimals (it works in unit prices).

Every read is a JSON-RPC eth_call pinned to a block number, sent in one batch through any transport with
`batch(calls) -> results` (`defibots.chain.rpc.JsonRpc`). The `*_calls` / `parse_*` pairs let a caller put
several reads of one block into its own batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Protocol

from defibots.chain.calldata import calldata
from defibots.chain.gmx import keys as K
from defibots.chain.gmx.abis import find_entry
from defibots.chain.gmx.reader import MarketProps, OrderProps, PositionProps, decode_result, encode_call
from defibots.protocols.gmx_v2 import execution as X
from defibots.protocols.gmx_v2.market import MarketConfig

RpcCall = tuple[str, list[Any]]
"""A JSON-RPC (method, params) pair."""

NO_VIRTUAL_TOKEN = bytes(32)

_GET_POSITION = find_entry("SyntheticsReader", "getPosition")
_GET_ORDER = find_entry("SyntheticsReader", "getOrder")

_UINT_PARAMETERS = (
    "fee_improved", "fee_not_improved", "impact_positive", "impact_negative", "exponent_positive",
    "exponent_negative", "max_impact_positive", "max_impact_negative", "max_impact_liquidations",
    "min_collateral_factor_for_liquidation", "max_pnl_long", "max_pnl_short", "min_collateral_factor",
    "min_collateral_usd", "min_position_size_usd", "max_oi_long", "max_oi_short", "reserve_long",
    "reserve_short", "borrowing_long", "borrowing_short", "borrowing_exponent_long",
    "borrowing_exponent_short", "funding", "funding_exponent",
)  # fmt: skip


class BatchRpc(Protocol):
    """A JSON-RPC transport that sends many calls in one round trip, results in the order given."""

    def batch(self, calls: Sequence[RpcCall], /) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class ModelMarket:
    """A market's static inputs: the model's parameters and its index token's VIRTUAL_TOKEN_ID (zero when
    it has none; otherwise its ledger carries VIRTUAL_INVENTORY_FOR_POSITIONS of that id)."""

    parameters: X.MarketParameters
    virtual_token_id: bytes = NO_VIRTUAL_TOKEN


@cache
def parameter_keys(market: str) -> tuple[bytes, ...]:
    """The DataStore uint keys of a market's parameters, in `_UINT_PARAMETERS` order."""
    pnl = K.MAX_PNL_FACTOR_FOR_TRADERS
    return (
        K.position_fee_factor(market, True), K.position_fee_factor(market, False),
        K.position_impact_factor(market, True), K.position_impact_factor(market, False),
        K.position_impact_exponent_factor(market, True), K.position_impact_exponent_factor(market, False),
        K.max_position_impact_factor(market, True), K.max_position_impact_factor(market, False),
        K.max_position_impact_factor_for_liquidations(market),
        K.min_collateral_factor_for_liquidation(market),
        K.max_pnl_factor(pnl, market, True), K.max_pnl_factor(pnl, market, False),
        K.min_collateral_factor(market), K.MIN_COLLATERAL_USD, K.MIN_POSITION_SIZE_USD,
        K.max_open_interest(market, True), K.max_open_interest(market, False),
        K.reserve_factor(market, True), K.reserve_factor(market, False),
        K.borrowing_factor(market, True), K.borrowing_factor(market, False),
        K.borrowing_exponent_factor(market, True), K.borrowing_exponent_factor(market, False),
        K.funding_factor(market), K.funding_exponent_factor(market),
    )  # fmt: skip


@cache
def ledger_keys(market: str, long_token: str, short_token: str) -> tuple[bytes, ...]:
    """The DataStore uint keys of a market's ledger, in `parse_ledger` order."""
    mk, lt, st = market, long_token, short_token
    return (
        K.pool_amount(mk, lt), K.pool_amount(mk, st),
        K.open_interest(mk, lt, True), K.open_interest(mk, st, True),
        K.open_interest_in_tokens(mk, lt, True), K.open_interest_in_tokens(mk, st, True),
        K.open_interest(mk, lt, False), K.open_interest(mk, st, False),
        K.open_interest_in_tokens(mk, lt, False), K.open_interest_in_tokens(mk, st, False),
        K.position_impact_pool_amount(mk),
        K.cumulative_borrowing_factor(mk, True), K.cumulative_borrowing_factor(mk, False),
        K.funding_fee_amount_per_size(mk, True), K.funding_fee_amount_per_size(mk, False),
        K.claimable_funding_amount_per_size(mk, True), K.claimable_funding_amount_per_size(mk, False),
        K.cumulative_borrowing_factor_updated_at(mk, True),
        K.cumulative_borrowing_factor_updated_at(mk, False),
        K.funding_updated_at(mk),
    )  # fmt: skip


def _word(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _signed_word(raw: bytes) -> int:
    return int.from_bytes(raw, "big", signed=True)


def decode_position(raw: bytes) -> PositionProps:
    """Reader.getPosition's return data."""
    (value,) = decode_result(_GET_POSITION, raw)
    return PositionProps.from_abi(value)


def decode_order(key: bytes, raw: bytes) -> OrderProps:
    """Reader.getOrder's return data."""
    (value,) = decode_result(_GET_ORDER, raw)
    return OrderProps.from_abi(key, value)


def model_position(props: PositionProps) -> X.Position | None:
    """The model's Position (lowercase addresses); None for the empty position (zero account)."""
    if int(props.account, 16) == 0:
        return None
    values: dict[str, Any] = {f.name: getattr(props, f.name) for f in fields(X.Position)}
    for name in ("account", "market", "collateral_token"):
        values[name] = str(values[name]).lower()
    return X.Position(**values)


def model_order(props: OrderProps) -> X.Order:
    """The order fields the model's PositionHandler reads (lowercase addresses)."""
    return X.Order(
        account=props.account.lower(),
        order_type=int(props.order_type),
        is_long=props.is_long,
        collateral_token=props.initial_collateral_token.lower(),
        size_delta_usd=props.size_delta_usd,
        initial_collateral_delta_amount=props.initial_collateral_delta_amount,
        acceptable_price=props.acceptable_price,
        trigger_price=props.trigger_price,
    )


def parse_ledger(market: ModelMarket, raw: Sequence[bytes]) -> X.MarketLedger:
    """The ledger from the results of `ModelInputs.ledger_calls(market, ...)`."""
    has_inventory = market.virtual_token_id != NO_VIRTUAL_TOKEN
    v = [_word(r) for r in (raw[:-1] if has_inventory else raw)]
    inventory = _signed_word(raw[-1]) if has_inventory else 0
    return X.MarketLedger(
        long_pool_amount=v[0],
        short_pool_amount=v[1],
        long_open_interest=X.OpenInterest(v[2], v[3], v[4], v[5]),
        short_open_interest=X.OpenInterest(v[6], v[7], v[8], v[9]),
        position_impact_pool_amount=v[10],
        cumulative=X.Cumulative(v[11], v[12], v[13], v[14], v[15], v[16]),
        borrowing_updated_at_long=v[17],
        borrowing_updated_at_short=v[18],
        funding_updated_at=v[19],
        virtual_inventory=inventory,
    )


def parse_market(props: MarketProps, raw: Sequence[bytes]) -> ModelMarket:
    """The market from the results of `ModelInputs.market_calls(props, ...)`."""
    v = dict(zip(_UINT_PARAMETERS, (_word(r) for r in raw), strict=False))
    use_tokens_for_balance, virtual_token_id = _word(raw[-2]) != 0, bytes(raw[-1])
    pricing = MarketConfig(
        position_fee_factor_for_balance_was_improved=v["fee_improved"],
        position_fee_factor_for_balance_was_not_improved=v["fee_not_improved"],
        position_impact_factor_positive=v["impact_positive"],
        position_impact_factor_negative=v["impact_negative"],
        position_impact_exponent_factor_positive=v["exponent_positive"],
        position_impact_exponent_factor_negative=v["exponent_negative"],
        max_position_impact_factor_positive=v["max_impact_positive"],
        max_position_impact_factor_negative=v["max_impact_negative"],
        max_position_impact_factor_for_liquidations=v["max_impact_liquidations"],
        min_collateral_factor_for_liquidation=v["min_collateral_factor_for_liquidation"],
        max_pnl_factor_for_traders_long=v["max_pnl_long"],
        max_pnl_factor_for_traders_short=v["max_pnl_short"],
        use_open_interest_in_tokens_for_balance=use_tokens_for_balance,
    )
    parameters = X.MarketParameters(
        market=props.market_token.lower(),
        index_token=props.index_token.lower(),
        long_token=props.long_token.lower(),
        short_token=props.short_token.lower(),
        pricing=pricing,
        min_collateral_factor=v["min_collateral_factor"],
        min_collateral_usd=v["min_collateral_usd"],
        min_position_size_usd=v["min_position_size_usd"],
        max_open_interest_long=v["max_oi_long"],
        max_open_interest_short=v["max_oi_short"],
        reserve_factor_long=v["reserve_long"],
        reserve_factor_short=v["reserve_short"],
        borrowing_factor_long=v["borrowing_long"],
        borrowing_factor_short=v["borrowing_short"],
        borrowing_exponent_factor_long=v["borrowing_exponent_long"],
        borrowing_exponent_factor_short=v["borrowing_exponent_short"],
        funding_factor=v["funding"],
        funding_exponent_factor=v["funding_exponent"],
    )
    return ModelMarket(parameters, virtual_token_id)


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """Reads of the model's inputs from `data_store` (DataStore) and `reader` (SyntheticsReader)."""

    rpc: BatchRpc
    reader: str
    data_store: str

    # -- calls, for a caller's own batch --

    def eth_call(self, to: str, data: bytes | str, block: int) -> RpcCall:
        hex_data = data if isinstance(data, str) else "0x" + data.hex()
        return ("eth_call", [{"to": to, "data": hex_data}, hex(block)])

    def uint_call(self, key: bytes, block: int) -> RpcCall:
        return self.eth_call(self.data_store, calldata("getUint(bytes32)", key), block)

    def market_calls(self, props: MarketProps, block: int) -> list[RpcCall]:
        calls = [self.uint_call(k, block) for k in parameter_keys(props.market_token)]
        use_tokens = K.use_open_interest_in_tokens_for_balance(props.market_token)
        calls.append(self.eth_call(self.data_store, calldata("getBool(bytes32)", use_tokens), block))
        virtual_id = K.virtual_token_id(props.index_token)
        calls.append(self.eth_call(self.data_store, calldata("getBytes32(bytes32)", virtual_id), block))
        return calls

    def ledger_calls(self, market: ModelMarket, block: int) -> list[RpcCall]:
        p = market.parameters
        calls = [self.uint_call(k, block) for k in ledger_keys(p.market, p.long_token, p.short_token)]
        if market.virtual_token_id != NO_VIRTUAL_TOKEN:
            inventory = K.virtual_inventory_for_positions(market.virtual_token_id)
            calls.append(self.eth_call(self.data_store, calldata("getInt(bytes32)", inventory), block))
        return calls

    def position_call(self, key: bytes, block: int) -> RpcCall:
        return self.eth_call(self.reader, encode_call(_GET_POSITION, self.data_store, key), block)

    def order_call(self, key: bytes, block: int) -> RpcCall:
        return self.eth_call(self.reader, encode_call(_GET_ORDER, self.data_store, key), block)

    def batch(self, calls: Sequence[RpcCall]) -> list[bytes]:
        """The calls' return data, in order."""
        return [bytes.fromhex(str(r)[2:]) for r in self.rpc.batch(calls)]

    # -- reads --

    def market(self, props: MarketProps, block: int) -> ModelMarket:
        """A market's parameters and virtual token id at `block`."""
        return parse_market(props, self.batch(self.market_calls(props, block)))

    def ledger(self, market: ModelMarket, block: int) -> X.MarketLedger:
        """A market's ledger at `block`."""
        return parse_ledger(market, self.batch(self.ledger_calls(market, block)))

    def position(self, key: bytes, block: int) -> X.Position | None:
        """The position with `key` at `block` (None when there is none)."""
        (raw,) = self.batch([self.position_call(key, block)])
        return model_position(decode_position(raw))

    def order(self, key: bytes, block: int) -> X.Order:
        """The order with `key` at `block`."""
        (raw,) = self.batch([self.order_call(key, block)])
        return model_order(decode_order(key, raw))
