"""ExchangeRouter calldata for GMX V2 orders: create (with take-profit / stop-loss), update, cancel.

The calls are encoded from the SDK's ExchangeRouter ABI (argument order and types come from the ABI
entries, values are matched to them by the ABI's field names), in the shape the SDK's front end sends:

    multicall([sendWnt(orderVault, fee + native collateral), sendTokens(token, orderVault, amount),
               createOrder(params),
               sendWnt(orderVault, tpFee), createOrder(takeProfit),
               sendWnt(orderVault, slFee), createOrder(stopLoss)])

Each createOrder is preceded by its own sendWnt: the OrderHandler books as an order's execution fee the
WNT that reached the OrderVault since the previous order (`recordTransferIn`), so one sendWnt of the
total before the first order would give that order every fee and leave the next ones with none. The
transaction's value is the sum (`ExchangeRouterCall.value`). Tokens are pulled by the SyntheticsRouter:
approve the Router, not the ExchangeRouter.

createOrder has two encodings: v2.2 (selector 0xf59c48eb, params end with `bytes32[] dataList`) and v2.1
(0x6996807b, the same without dataList), the latter derived from the v2.2 ABI entry by dropping
dataList.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from eth_abi import encode

from defibots.chain.gmx.abis import AbiEntry, find_entry, input_types, selector
from defibots.protocols.gmx_v2.order_types import OrderType as OrderType

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_BYTES32 = bytes(32)
BASIS_POINTS = 10_000


class DecreasePositionSwapType(IntEnum):
    NO_SWAP = 0
    SWAP_PNL_TOKEN_TO_COLLATERAL_TOKEN = 1
    SWAP_COLLATERAL_TOKEN_TO_PNL_TOKEN = 2


class CreateOrderEncoding(Enum):
    V2_2 = "v2.2"  # createOrder(CreateOrderParams) with dataList, 0xf59c48eb
    V2_1 = "v2.1"  # without dataList, 0x6996807b


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One createOrder: IBaseOrderUtils.CreateOrderParams with Python names.

    Prices are GMX contract prices (USD * 10^(30 - index token decimals) per smallest token unit, see
    `contract_price`); USD amounts in 1e30. For increase (and swap) orders `initial_collateral_delta_amount`
    is what the multicall sends to the OrderVault (GMX books the amount received, not this field); for
    decrease orders it is the collateral to withdraw.
    """

    market: str
    initial_collateral_token: str
    order_type: OrderType
    is_long: bool
    size_delta_usd: int
    initial_collateral_delta_amount: int
    acceptable_price: int
    execution_fee: int
    receiver: str
    trigger_price: int = 0
    cancellation_receiver: str = ZERO_ADDRESS
    callback_contract: str = ZERO_ADDRESS
    ui_fee_receiver: str = ZERO_ADDRESS
    swap_path: tuple[str, ...] = ()
    callback_gas_limit: int = 0
    min_output_amount: int = 0
    valid_from_time: int = 0
    decrease_position_swap_type: DecreasePositionSwapType = DecreasePositionSwapType.NO_SWAP
    should_unwrap_native_token: bool = False
    auto_cancel: bool = False
    referral_code: bytes = ZERO_BYTES32
    data_list: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        amounts = (
            self.size_delta_usd,
            self.initial_collateral_delta_amount,
            self.acceptable_price,
            self.execution_fee,
            self.trigger_price,
            self.callback_gas_limit,
            self.min_output_amount,
            self.valid_from_time,
        )
        if any(a < 0 for a in amounts):
            raise ValueError("GMX order amounts, prices and times are unsigned")
        if len(self.referral_code) != 32 or any(len(d) != 32 for d in self.data_list):
            raise ValueError("referral_code and data_list items are bytes32")

    def params(self) -> dict[str, Any]:
        """CreateOrderParams keyed by the ABI's field names."""
        return {
            "addresses": {
                "receiver": self.receiver,
                "cancellationReceiver": self.cancellation_receiver,
                "callbackContract": self.callback_contract,
                "uiFeeReceiver": self.ui_fee_receiver,
                "market": self.market,
                "initialCollateralToken": self.initial_collateral_token,
                "swapPath": list(self.swap_path),
            },
            "numbers": {
                "sizeDeltaUsd": self.size_delta_usd,
                "initialCollateralDeltaAmount": self.initial_collateral_delta_amount,
                "triggerPrice": self.trigger_price,
                "acceptablePrice": self.acceptable_price,
                "executionFee": self.execution_fee,
                "callbackGasLimit": self.callback_gas_limit,
                "minOutputAmount": self.min_output_amount,
                "validFromTime": self.valid_from_time,
            },
            "orderType": int(self.order_type),
            "decreasePositionSwapType": int(self.decrease_position_swap_type),
            "isLong": self.is_long,
            "shouldUnwrapNativeToken": self.should_unwrap_native_token,
            "autoCancel": self.auto_cancel,
            "referralCode": self.referral_code,
            "dataList": list(self.data_list),
        }

    @property
    def sends_collateral(self) -> bool:
        """Increase and swap orders take their tokens from the OrderVault; decreases send none."""
        return self.order_type.is_increase or self.order_type.is_swap


@dataclass(frozen=True, slots=True)
class ExchangeRouterCall:
    """A transaction to the ExchangeRouter: its calldata and the wei it must carry."""

    data: bytes
    value: int


# ---- single calls ----


def _arranged(components: Sequence[AbiEntry], values: Mapping[str, Any]) -> tuple[Any, ...]:
    """`values` (keyed by ABI names, nested dicts for tuples) as the positional tuple eth_abi encodes."""
    out: list[Any] = []
    for c in components:
        value = values[c["name"]]
        if c["type"] == "tuple":
            value = _arranged(c["components"], value)
        out.append(value)
    return tuple(out)


def _call(entry: AbiEntry, *args: Any) -> bytes:
    return selector(entry) + encode(input_types(entry), list(args))


def _router(name: str) -> AbiEntry:
    return find_entry("ExchangeRouter", name)


def create_order_entry(encoding: CreateOrderEncoding = CreateOrderEncoding.V2_2) -> AbiEntry:
    """The createOrder ABI entry for `encoding` (v2.1: the v2.2 entry without dataList)."""
    entry = _router("createOrder")
    if encoding is CreateOrderEncoding.V2_2:
        return entry
    (params,) = entry["inputs"]
    v21 = {**params, "components": [c for c in params["components"] if c["name"] != "dataList"]}
    return {**entry, "inputs": [v21]}


def send_wnt(receiver: str, amount: int) -> bytes:
    return _call(_router("sendWnt"), receiver, amount)


def send_tokens(token: str, receiver: str, amount: int) -> bytes:
    return _call(_router("sendTokens"), token, receiver, amount)


def create_order(order: OrderRequest, encoding: CreateOrderEncoding = CreateOrderEncoding.V2_2) -> bytes:
    if encoding is CreateOrderEncoding.V2_1 and order.data_list:
        raise ValueError("the v2.1 createOrder encoding has no dataList")
    entry = create_order_entry(encoding)
    return _call(entry, _arranged(entry["inputs"][0]["components"], order.params()))


def cancel_order(key: bytes) -> bytes:
    return _call(_router("cancelOrder"), key)


def update_order(
    key: bytes,
    size_delta_usd: int,
    acceptable_price: int,
    trigger_price: int,
    min_output_amount: int,
    valid_from_time: int = 0,
    auto_cancel: bool = False,
) -> bytes:
    return _call(
        _router("updateOrder"),
        key,
        size_delta_usd,
        acceptable_price,
        trigger_price,
        min_output_amount,
        valid_from_time,
        auto_cancel,
    )


def multicall(calls: Sequence[bytes]) -> bytes:
    return _call(_router("multicall"), list(calls))


# ---- transactions ----


def order_multicall(
    order_vault: str,
    order: OrderRequest,
    *,
    take_profit: OrderRequest | None = None,
    stop_loss: OrderRequest | None = None,
    native_collateral: bool = False,
    encoding: CreateOrderEncoding = CreateOrderEncoding.V2_2,
) -> ExchangeRouterCall:
    """The multicall creating `order`, then optionally a LimitDecrease take-profit and a StopLossDecrease
    stop-loss on the same position.

    `native_collateral`: the collateral is paid in ETH (the order's collateral token must be the wrapped
    native token): it is wrapped by the first sendWnt together with the fee, and no sendTokens is sent.
    """
    if order.order_type is OrderType.LIQUIDATION:
        raise ValueError("liquidation orders are created by the keeper, not by a user")
    if take_profit is not None and take_profit.order_type is not OrderType.LIMIT_DECREASE:
        raise ValueError("a take-profit is a LimitDecrease order")
    if stop_loss is not None and stop_loss.order_type is not OrderType.STOP_LOSS_DECREASE:
        raise ValueError("a stop-loss is a StopLossDecrease order")
    collateral = order.initial_collateral_delta_amount if order.sends_collateral else 0
    if native_collateral and not order.sends_collateral:
        raise ValueError("native collateral only applies to increase and swap orders")
    calls = [send_wnt(order_vault, order.execution_fee + (collateral if native_collateral else 0))]
    if collateral and not native_collateral:
        calls.append(send_tokens(order.initial_collateral_token, order_vault, collateral))
    calls.append(create_order(order, encoding))
    value = order.execution_fee + (collateral if native_collateral else 0)
    for extra in (take_profit, stop_loss):
        if extra is not None:
            calls += [send_wnt(order_vault, extra.execution_fee), create_order(extra, encoding)]
            value += extra.execution_fee
    return ExchangeRouterCall(multicall(calls), value)


def update_order_multicall(
    key: bytes,
    size_delta_usd: int,
    acceptable_price: int,
    trigger_price: int,
    min_output_amount: int,
    *,
    valid_from_time: int = 0,
    auto_cancel: bool = False,
    order_vault: str | None = None,
    execution_fee_top_up: int = 0,
) -> ExchangeRouterCall:
    """updateOrder, preceded by sendWnt(order_vault, top-up) when the execution fee is raised."""
    calls = []
    if execution_fee_top_up:
        if order_vault is None:
            raise ValueError("an execution fee top-up is sent to the OrderVault: pass order_vault")
        calls.append(send_wnt(order_vault, execution_fee_top_up))
    calls.append(
        update_order(
            key,
            size_delta_usd,
            acceptable_price,
            trigger_price,
            min_output_amount,
            valid_from_time,
            auto_cancel,
        )
    )
    return ExchangeRouterCall(multicall(calls), execution_fee_top_up)


def cancel_orders_multicall(keys: Sequence[bytes]) -> ExchangeRouterCall:
    return ExchangeRouterCall(multicall([cancel_order(k) for k in keys]), 0)


# ---- prices ----


def acceptable_price(mark_price: int, slippage_bps: int, *, is_long: bool, is_increase: bool) -> int:
    """The worst execution price a market order accepts, as the SDK's applySlippageToPrice sets it.

    Buying (long increase, short decrease) accepts a higher price: price * (1 + s); selling (short
    increase, long decrease) a lower one: price * (1 - s). Rounded down, like the SDK's mulDiv.
    """
    if not 0 <= slippage_bps <= BASIS_POINTS:
        raise ValueError(f"slippage {slippage_bps} bps is outside 0..{BASIS_POINTS}")
    buys = is_long if is_increase else not is_long
    factor = BASIS_POINTS + slippage_bps if buys else BASIS_POINTS - slippage_bps
    return mark_price * factor // BASIS_POINTS


def contract_price(price_usd: int, token_decimals: int) -> int:
    """A USD price per whole token in 1e30 (the SDK's display unit) as the per-unit price GMX stores:
    USD * 10^(30 - decimals) (the SDK's convertToContractPrice)."""
    return price_usd // int(10**token_decimals)
