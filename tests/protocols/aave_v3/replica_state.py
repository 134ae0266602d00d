"""Reads the replica's Aave v3.6 state into the pure model (ReserveState, UserReserve, EModeCategory) and
sends the few transactions the parity tests make. Test-local: the model itself never touches a chain."""

from __future__ import annotations

import time
from typing import Any

from eth_utils import to_checksum_address

from defibots.chain import addresses as A
from defibots.chain.aave_addresses import aave_v3_ethereum
from defibots.protocols.aave_v3 import (
    EModeCategory,
    InterestRateData,
    ReserveConfiguration,
    ReserveState,
    UserReserve,
)

from ..conftest import JsonRpc
from .aave_abi import Contract, artifact, revert_reason

MARKET = aave_v3_ethereum()
MAX_UINT256 = (1 << 256) - 1


def token(symbol: str) -> str:
    return A.TOKENS[symbol].address


class AaveOnChain:
    """The Pool, its oracle and tokens on one RPC, read into model objects (all reads at `latest`)."""

    def __init__(self, rpc: JsonRpc) -> None:
        self.rpc = rpc
        self.pool = Contract(rpc, artifact("PoolInstance")["abi"], MARKET.pool)
        self.oracle = Contract(rpc, artifact("AaveOracle")["abi"], MARKET.oracle)
        self._a_abi = artifact("ATokenInstance")["abi"]
        self._d_abi = artifact("VariableDebtTokenInstance")["abi"]
        self._erc20_abi = artifact("IERC20")["abi"]
        self.assets: list[str] = [to_checksum_address(a) for a in self.pool.call("getReservesList")]
        self._raw: dict[str, Any] = {a: self.pool.call("getReserveData", a) for a in self.assets}
        self.strategy = Contract(
            rpc, artifact("DefaultReserveInterestRateStrategyV2")["abi"], self._raw[self.assets[0]][11]
        )

    def a_token(self, asset: str) -> Contract:
        return Contract(self.rpc, self._a_abi, self._raw[asset][8])

    def debt_token(self, asset: str) -> Contract:
        return Contract(self.rpc, self._d_abi, self._raw[asset][10])

    def erc20(self, asset: str) -> Contract:
        return Contract(self.rpc, self._erc20_abi, asset)

    def timestamp(self) -> int:
        return int(self.rpc.call("eth_getBlockByNumber", ["latest", False])["timestamp"], 16)

    def reserve(self, asset: str) -> ReserveState:
        raw = self.pool.call("getReserveData", asset)
        ((config,), liquidity_index, liquidity_rate, borrow_index, borrow_rate, _, last_update, rid) = raw[:8]
        accrued, _, isolation_debt = raw[12:15]
        a_supply, d_supply = (
            self.a_token(asset).call("scaledTotalSupply"),
            self.debt_token(asset).call("scaledTotalSupply"),
        )
        return ReserveState(
            asset=asset,
            id=rid,
            configuration=ReserveConfiguration.from_bitmap(config),
            rate_strategy=InterestRateData(*self.strategy.call("getInterestRateDataBps", asset)),
            liquidity_index=liquidity_index,
            variable_borrow_index=borrow_index,
            current_liquidity_rate=liquidity_rate,
            current_variable_borrow_rate=borrow_rate,
            last_update_timestamp=last_update,
            accrued_to_treasury=accrued,
            virtual_underlying_balance=self.pool.call("getVirtualUnderlyingBalance", asset),
            deficit=self.pool.call("getReserveDeficit", asset),
            isolation_mode_total_debt=isolation_debt,
            scaled_a_token_supply=a_supply,
            scaled_variable_debt=d_supply,
            liquidation_grace_period_until=self.pool.call("getLiquidationGracePeriod", asset),
        )

    def reserves(self) -> dict[str, ReserveState]:
        return {a: self.reserve(a) for a in self.assets}

    def e_mode_of(self, user: str) -> EModeCategory | None:
        category = self.pool.call("getUserEMode", user)
        if category == 0:
            return None
        ltv, threshold, bonus = self.pool.call("getEModeCategoryCollateralConfig", category)
        return EModeCategory(
            id=category,
            ltv=ltv,
            liquidation_threshold=threshold,
            liquidation_bonus=bonus,
            collateral_bitmap=self.pool.call("getEModeCategoryCollateralBitmap", category),
            borrowable_bitmap=self.pool.call("getEModeCategoryBorrowableBitmap", category),
            ltvzero_bitmap=self.pool.call("getEModeCategoryLtvzeroBitmap", category),
            label=self.pool.call("getEModeCategoryLabel", category),
        )

    def positions(self, user: str, reserves: dict[str, ReserveState] | None = None) -> list[UserReserve]:
        """The user's position in every listed reserve (flags from getUserConfiguration)."""
        reserves = reserves or self.reserves()
        ((config,),) = (self.pool.call("getUserConfiguration", user),)
        out = []
        for asset in self.assets:
            r = reserves[asset]
            out.append(
                UserReserve(
                    reserve=r,
                    price=self.oracle.call("getAssetPrice", asset),
                    scaled_a_token_balance=self.a_token(asset).call("scaledBalanceOf", user),
                    scaled_variable_debt=self.debt_token(asset).call("scaledBalanceOf", user),
                    using_as_collateral=bool(config >> (2 * r.id + 1) & 1),
                    borrowing=bool(config >> (2 * r.id) & 1),
                )
            )
        return out

    def send(self, sender: str, to: str, contract: Contract, name: str, *args: Any) -> dict[str, Any]:
        """A transaction from an unlocked account; returns its receipt (a revert raises with its reason)."""
        tx = {
            "from": sender,
            "to": to,
            "data": "0x" + contract.calldata(name, *args).hex(),
            "gas": hex(3_000_000),
        }
        tx_hash = self.rpc.call("eth_sendTransaction", [tx])
        for _ in range(5000):
            receipt: dict[str, Any] | None = self.rpc.call("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                if receipt["status"] != "0x1":
                    raise RuntimeError(f"{name} reverted: {self.revert_of(tx)}")
                return receipt
            time.sleep(0.001)
        raise RuntimeError(f"{name} was never mined")

    def revert_of(self, tx: dict[str, Any]) -> str:
        """The model's reason string for what eth_call of `tx` reverts with ('' if it does not revert)."""
        reply = self.rpc.batch([("eth_call", [tx, "latest"])])[0]
        if "error" not in reply:
            return ""
        data = reply["error"].get("data") or "0x"
        return revert_reason(bytes.fromhex(data[2:]))

    def block_timestamp(self, receipt: dict[str, Any]) -> int:
        block = self.rpc.call("eth_getBlockByNumber", [receipt["blockNumber"], False])
        return int(block["timestamp"], 16)
