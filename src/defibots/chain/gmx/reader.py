"""Typed reads of GMX V2's SyntheticsReader and DataStore over a web3.Web3 connection.

Each read is one eth_call encoded and decoded with the SDK's ABI entries; results are frozen dataclasses
whose fields are the ABI's struct fields in ABI order, in snake_case (Position and Order props flatten
their addresses / numbers / flags sub-structs). Prices are `TokenPrices` (min, max) of the GMX model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode, encode
from eth_utils import to_checksum_address
from web3 import Web3
from web3.types import BlockIdentifier

from defibots.chain.gmx.abis import AbiEntry, find_entry, input_types, output_types, selector
from defibots.chain.gmx.orders import ZERO_ADDRESS, DecreasePositionSwapType, OrderType
from defibots.protocols.gmx_v2.market import TokenPrices
from defibots.protocols.gmx_v2.position import position_key

DEFAULT_PAGE_END = 1000  # GMX clamps `end` to the list's length


@dataclass(frozen=True, slots=True)
class MarketProps:
    """Market.Props: a market's token (its address) and its index / long / short tokens."""

    market_token: str
    index_token: str
    long_token: str
    short_token: str


@dataclass(frozen=True, slots=True)
class MarketPrices:
    """MarketUtils.MarketPrices: oracle prices of the market's three tokens (contract price units)."""

    index_token_price: TokenPrices
    long_token_price: TokenPrices
    short_token_price: TokenPrices

    def abi_value(self) -> tuple[tuple[int, int], ...]:
        return tuple(
            (p.min_price, p.max_price)
            for p in (self.index_token_price, self.long_token_price, self.short_token_price)
        )


@dataclass(frozen=True, slots=True)
class PositionProps:
    """Position.Props (addresses, numbers, flags flattened)."""

    account: str
    market: str
    collateral_token: str
    size_in_usd: int
    size_in_tokens: int
    collateral_amount: int
    pending_impact_amount: int
    borrowing_factor: int
    funding_fee_amount_per_size: int
    long_token_claimable_funding_amount_per_size: int
    short_token_claimable_funding_amount_per_size: int
    increased_at_time: int
    decreased_at_time: int
    is_long: bool

    @property
    def key(self) -> bytes:
        return position_key(self.account, self.market, self.collateral_token, self.is_long)

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> PositionProps:
        addresses, numbers, flags = value
        return cls(*addresses, *numbers, *flags)


@dataclass(frozen=True, slots=True)
class OrderProps:
    """Order.Props (addresses, numbers, flags flattened) with its key (ReaderUtils.OrderInfo)."""

    key: bytes
    account: str
    receiver: str
    cancellation_receiver: str
    callback_contract: str
    ui_fee_receiver: str
    market: str
    initial_collateral_token: str
    swap_path: tuple[str, ...]
    order_type: OrderType
    decrease_position_swap_type: DecreasePositionSwapType
    size_delta_usd: int
    initial_collateral_delta_amount: int
    trigger_price: int
    acceptable_price: int
    execution_fee: int
    callback_gas_limit: int
    min_output_amount: int
    updated_at_time: int
    valid_from_time: int
    src_chain_id: int
    is_long: bool
    should_unwrap_native_token: bool
    is_frozen: bool
    auto_cancel: bool
    data_list: tuple[bytes, ...]

    @classmethod
    def from_abi(cls, key: bytes, value: Sequence[Any]) -> OrderProps:
        addresses, numbers, flags, data_list = value
        *head, swap_path = addresses
        order_type, swap_type, *amounts = numbers
        fields: list[Any] = [
            key,
            *head,
            tuple(swap_path),
            OrderType(order_type),
            DecreasePositionSwapType(swap_type),
            *amounts,
            *flags,
            tuple(data_list),
        ]
        return cls(*fields)


@dataclass(frozen=True, slots=True)
class PositionReferralFees:
    referral_code: bytes
    affiliate: str
    trader: str
    total_rebate_factor: int
    affiliate_reward_factor: int
    adjusted_affiliate_reward_factor: int
    trader_discount_factor: int
    total_rebate_amount: int
    trader_discount_amount: int
    affiliate_reward_amount: int


@dataclass(frozen=True, slots=True)
class PositionProFees:
    trader_tier: int
    trader_discount_factor: int
    trader_discount_amount: int


@dataclass(frozen=True, slots=True)
class PositionFundingFees:
    funding_fee_amount: int
    claimable_long_token_amount: int
    claimable_short_token_amount: int
    latest_funding_fee_amount_per_size: int
    latest_long_token_claimable_funding_amount_per_size: int
    latest_short_token_claimable_funding_amount_per_size: int


@dataclass(frozen=True, slots=True)
class PositionBorrowingFees:
    borrowing_fee_usd: int
    borrowing_fee_amount: int
    borrowing_fee_receiver_factor: int
    borrowing_fee_amount_for_fee_receiver: int


@dataclass(frozen=True, slots=True)
class PositionUiFees:
    ui_fee_receiver: str
    ui_fee_receiver_factor: int
    ui_fee_amount: int


@dataclass(frozen=True, slots=True)
class PositionLiquidationFees:
    liquidation_fee_usd: int
    liquidation_fee_amount: int
    liquidation_fee_receiver_factor: int
    liquidation_fee_amount_for_fee_receiver: int


@dataclass(frozen=True, slots=True)
class PositionFees:
    """PositionPricingUtils.PositionFees; amounts in collateral token units unless named *_usd."""

    referral: PositionReferralFees
    pro: PositionProFees
    funding: PositionFundingFees
    borrowing: PositionBorrowingFees
    ui: PositionUiFees
    liquidation: PositionLiquidationFees
    collateral_token_price: TokenPrices
    position_fee_factor: int
    protocol_fee_amount: int
    position_fee_receiver_factor: int
    fee_receiver_amount: int
    fee_amount_for_pool: int
    position_fee_amount_for_pool: int
    position_fee_amount: int
    total_cost_amount_excluding_funding: int
    total_cost_amount: int
    total_discount_amount: int

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> PositionFees:
        referral, pro, funding, borrowing, ui, liquidation, price, *numbers = value
        return cls(
            PositionReferralFees(*referral),
            PositionProFees(*pro),
            PositionFundingFees(*funding),
            PositionBorrowingFees(*borrowing),
            PositionUiFees(*ui),
            PositionLiquidationFees(*liquidation),
            TokenPrices(*price),
            *numbers,
        )


@dataclass(frozen=True, slots=True)
class ExecutionPriceResult:
    price_impact_usd: int
    execution_price: int
    balance_was_improved: bool
    proportional_pending_impact_usd: int
    total_impact_usd: int
    price_impact_diff_usd: int


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """ReaderPositionUtils.PositionInfo: a position with its fees, close price and PnL for a size delta."""

    position_key: bytes
    position: PositionProps
    fees: PositionFees
    execution_price_result: ExecutionPriceResult
    base_pnl_usd: int
    uncapped_base_pnl_usd: int
    pnl_after_price_impact_usd: int

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> PositionInfo:
        key, position, fees, execution, *pnl = value
        return cls(
            key,
            PositionProps.from_abi(position),
            PositionFees.from_abi(fees),
            ExecutionPriceResult(*execution),
            *pnl,
        )


def encode_call(entry: AbiEntry, *args: Any) -> bytes:
    return selector(entry) + encode(input_types(entry), list(args))


def _checksummed(param: AbiEntry, value: Any) -> Any:
    """`value` of ABI parameter `param` with every address in checksum form (eth_abi gives lowercase)."""
    kind: str = param["type"]
    if kind.endswith("]"):
        element = {**param, "type": kind[: kind.rindex("[")]}
        return tuple(_checksummed(element, v) for v in value)
    if kind == "tuple":
        return tuple(_checksummed(c, v) for c, v in zip(param["components"], value, strict=True))
    if kind == "address":
        return to_checksum_address(value)
    return value


def decode_result(entry: AbiEntry, data: bytes) -> tuple[Any, ...]:
    """A function's return data decoded with its ABI outputs (addresses checksummed)."""
    values = decode(output_types(entry), data)
    return tuple(_checksummed(o, v) for o, v in zip(entry["outputs"], values, strict=True))


@dataclass(frozen=True, slots=True)
class GmxReader:
    """SyntheticsReader and DataStore reads at `block` (a web3 block identifier)."""

    w3: Web3
    reader: str
    data_store: str
    block: BlockIdentifier = "latest"

    def _call(self, contract: str, abi: str, function: str, *args: Any) -> tuple[Any, ...]:
        entry = find_entry(abi, function)
        raw = self.w3.eth.call(
            {"to": to_checksum_address(contract), "data": encode_call(entry, *args)}, self.block
        )
        return decode_result(entry, bytes(raw))

    def _read(self, function: str, *args: Any) -> Any:
        (result,) = self._call(self.reader, "SyntheticsReader", function, self.data_store, *args)
        return result

    def market(self, market_token: str) -> MarketProps:
        return MarketProps(*self._read("getMarket", market_token))

    def markets(self, start: int = 0, end: int = DEFAULT_PAGE_END) -> list[MarketProps]:
        return [MarketProps(*m) for m in self._read("getMarkets", start, end)]

    def position(self, key: bytes) -> PositionProps:
        """An empty position (zero account) when none has this key."""
        return PositionProps.from_abi(self._read("getPosition", key))

    def account_positions(
        self, account: str, start: int = 0, end: int = DEFAULT_PAGE_END
    ) -> list[PositionProps]:
        return [PositionProps.from_abi(p) for p in self._read("getAccountPositions", account, start, end)]

    def position_info(
        self,
        key: bytes,
        prices: MarketPrices,
        size_delta_usd: int = 0,
        *,
        use_position_size_as_size_delta_usd: bool = True,
        referral_storage: str = ZERO_ADDRESS,
        ui_fee_receiver: str = ZERO_ADDRESS,
    ) -> PositionInfo:
        """getPositionInfo(dataStore, referralStorage, positionKey, prices, sizeDeltaUsd, uiFeeReceiver,
        usePositionSizeAsSizeDeltaUsd): the fees and PnL of closing `size_delta_usd` (all by default)."""
        info = self._read(
            "getPositionInfo",
            referral_storage,
            key,
            prices.abi_value(),
            size_delta_usd,
            ui_fee_receiver,
            use_position_size_as_size_delta_usd,
        )
        return PositionInfo.from_abi(info)

    def order(self, key: bytes) -> OrderProps:
        return OrderProps.from_abi(key, self._read("getOrder", key))

    def account_orders(self, account: str, start: int = 0, end: int = DEFAULT_PAGE_END) -> list[OrderProps]:
        return [OrderProps.from_abi(k, o) for k, o in self._read("getAccountOrders", account, start, end)]

    def get_uint(self, key: bytes) -> int:
        (value,) = self._call(self.data_store, "DataStore", "getUint", key)
        return int(value)

    def get_int(self, key: bytes) -> int:
        (value,) = self._call(self.data_store, "DataStore", "getInt", key)
        return int(value)

    def get_bool(self, key: bytes) -> bool:
        (value,) = self._call(self.data_store, "DataStore", "getBool", key)
        return bool(value)

    def get_address(self, key: bytes) -> str:
        (value,) = self._call(self.data_store, "DataStore", "getAddress", key)
        return str(value)
