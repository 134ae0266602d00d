"""Aave v3.6 as a part of the market state: reserves, accounts and e-mode categories, from the chain's logs.

Which log gives which field, exactly (v3.6 sources, npm @aave-dao/aave-v3-origin@3.6.0):

- reserve indexes and rates: the Pool's `ReserveDataUpdated`, which every action emits after its index
  update; the treasury's share is the model's own accrual to the block's time (`ReserveState.accrue`);
- the virtual balance from the action's amount (`Supply`, `Withdraw`, `Borrow`, `Repay`, `LiquidationCall`,
  `FlashLoan`), the deficit from `DeficitCreated` / `DeficitCovered`, isolation debt from
  `IsolationModeTotalDebtUpdated`, the treasury's accruals from `MintedToTreasury` and `FlashLoan`;
- scaled balances (of users and the reserve's supplies) from the aToken / debt token's `Mint`, `Burn`
  and `BalanceTransfer`: the first two carry unscaled amounts, but the balance of a scaled amount at an
  index >= 1 ray is strictly increasing, so the new scaled balance is the unique inverse;
- collateral flags from `ReserveUsedAsCollateralEnabled/Disabled`, e-mode from `UserEModeSet`, and prices
  from the `AnswerUpdated` of the aggregator behind each price source (AaveOracle reads the proxy).

Accounts absent from the store start from zero when a token event first names them: the loaded set must
hold every holder (chain/aave_loader.py discovers them from the tokens' Mint and BalanceTransfer logs).
A log does not carry its block's time; the part reads a `block_timestamp` attribute when the log has one,
else the times given to `observe_block` (feed it each block header before the block's logs); without
either it raises `MissingBlockTime`.
Not followed (reload after them): configuration and rate-strategy changes by the PoolConfigurator, and
the second treasury booking of a liquidation whose collateral and debt asset are the same.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from eth_utils import keccak, to_checksum_address

from defibots.events import Event
from defibots.protocols.aave_v3 import (
    AccountData,
    EModeCategory,
    ReserveState,
    UserReserve,
    user_account_data,
)
from defibots.protocols.aave_v3.math import RAY, WAD
from defibots.protocols.aave_v3.token_math import a_token_balance, a_token_mint_scaled, debt_balance
from defibots.state.store import MalformedLog, MarketState, StateLog, StatePart


class MissingBlockTime(LookupError):
    """A log needs its block's time and neither the log nor `observe_block` gave it: a wiring error, raised
    (not skipped as malformed), because applying the rest of the block without it would corrupt the state."""


def _topic(signature: str) -> str:
    return "0x" + keccak(text=signature).hex()


RESERVE_DATA_UPDATED = _topic("ReserveDataUpdated(address,uint256,uint256,uint256,uint256,uint256)")
SUPPLY = _topic("Supply(address,address,address,uint256,uint16)")
WITHDRAW = _topic("Withdraw(address,address,address,uint256)")
BORROW = _topic("Borrow(address,address,address,uint256,uint8,uint256,uint16)")
REPAY = _topic("Repay(address,address,address,uint256,bool)")
LIQUIDATION_CALL = _topic("LiquidationCall(address,address,address,uint256,uint256,address,bool)")
FLASH_LOAN = _topic("FlashLoan(address,address,address,uint256,uint8,uint256,uint16)")
ISOLATION_DEBT_UPDATED = _topic("IsolationModeTotalDebtUpdated(address,uint256)")
MINTED_TO_TREASURY = _topic("MintedToTreasury(address,uint256)")
DEFICIT_CREATED = _topic("DeficitCreated(address,address,uint256)")
DEFICIT_COVERED = _topic("DeficitCovered(address,address,uint256)")
COLLATERAL_ENABLED = _topic("ReserveUsedAsCollateralEnabled(address,address)")
COLLATERAL_DISABLED = _topic("ReserveUsedAsCollateralDisabled(address,address)")
USER_EMODE_SET = _topic("UserEModeSet(address,uint8)")
TOKEN_MINT = _topic("Mint(address,address,uint256,uint256,uint256)")
TOKEN_BURN = _topic("Burn(address,address,uint256,uint256,uint256)")
BALANCE_TRANSFER = _topic("BalanceTransfer(address,address,uint256,uint256)")
ANSWER_UPDATED = _topic("AnswerUpdated(int256,uint256,uint256)")

POOL_TOPICS = (
    RESERVE_DATA_UPDATED, SUPPLY, WITHDRAW, BORROW, REPAY, LIQUIDATION_CALL, FLASH_LOAN,
    ISOLATION_DEBT_UPDATED, MINTED_TO_TREASURY, DEFICIT_CREATED, DEFICIT_COVERED,
    COLLATERAL_ENABLED, COLLATERAL_DISABLED, USER_EMODE_SET,
)  # fmt: skip
TOKEN_TOPICS = (TOKEN_MINT, TOKEN_BURN, BALANCE_TRANSFER)
TRACKED_TOPICS = (*POOL_TOPICS, *TOKEN_TOPICS, ANSWER_UPDATED)
EMODE_PREFIX = "emode:"


# ---------------------------------------------------------------------------------------------------------
# Entries


@dataclass(frozen=True, slots=True)
class AaveReserve:
    """One reserve: the model's state, the oracle price (base units per whole token) and where it comes
    from, and the reserve's two tokens (their logs move the scaled supplies).

    `price_source` is what AaveOracle reads (on mainnet a Chainlink proxy); `price_feed` is the aggregator
    behind it, which takes the updates and emits `AnswerUpdated` ("" when the source is not a proxy)."""

    state: ReserveState
    price: int
    price_source: str
    a_token: str
    debt_token: str
    symbol: str
    block_number: int
    log_index: int
    price_feed: str = ""

    @property
    def asset(self) -> str:
        return self.state.asset

    @property
    def feed(self) -> str:
        """The contract whose updates move this price: where its pending updates go and its logs come from."""
        return self.price_feed or self.price_source


@dataclass(frozen=True, slots=True)
class AavePosition:
    """A user's scaled balances in one reserve and its collateral flag (borrowing = scaled debt > 0)."""

    scaled_a_token: int = 0
    scaled_debt: int = 0
    collateral: bool = False

    @property
    def empty(self) -> bool:
        return not (self.scaled_a_token or self.scaled_debt or self.collateral)

    @property
    def at_risk(self) -> bool:
        """Its asset's price moves the account's health factor."""
        return self.scaled_debt > 0 or (self.collateral and self.scaled_a_token > 0)


@dataclass(frozen=True, slots=True)
class AaveAccount:
    """One user: non-empty positions by asset (sorted), and the e-mode category (0 = none)."""

    user: str
    positions: tuple[tuple[str, AavePosition], ...]
    e_mode: int
    block_number: int
    log_index: int

    def position(self, asset: str) -> AavePosition:
        for key, position in self.positions:
            if key == asset:
                return position
        return AavePosition()

    def with_position(self, asset: str, position: AavePosition, block: int, index: int) -> AaveAccount:
        kept = {k: p for k, p in self.positions if k != asset}
        if not position.empty:
            kept[asset] = position
        return AaveAccount(self.user, tuple(sorted(kept.items())), self.e_mode, block, index)


@dataclass(frozen=True, slots=True)
class AaveEMode:
    """An e-mode category as a store entry (key `emode:<id>`)."""

    category: EModeCategory
    block_number: int
    log_index: int


AaveEntry = AaveReserve | AaveAccount | AaveEMode


def emode_key(category_id: int) -> str:
    return f"{EMODE_PREFIX}{category_id}"


@dataclass(frozen=True, slots=True)
class AaveUpdated(Event):
    """Aave entries changed. `revalued`: every account whose account data may have moved (the changed
    accounts plus the holders of each changed reserve), so a price update names only its asset's holders."""

    chain_id: int
    block_number: int
    reserves: tuple[str, ...]
    accounts: tuple[str, ...]
    revalued: tuple[str, ...]
    reorg: bool = False


# ---------------------------------------------------------------------------------------------------------
# Log decoding (32-byte words, as state/uniswap.py does on the hot path)


def _word(data: bytes, i: int) -> int:
    return int.from_bytes(data[32 * i : 32 * i + 32], "big")


def _address(topic_or_word: str | int) -> str:
    value = int(topic_or_word, 16) if isinstance(topic_or_word, str) else topic_or_word
    return to_checksum_address(value.to_bytes(32, "big")[12:])


def _topic_address(log: StateLog, i: int) -> str:
    if len(log.topics) <= i:
        raise MalformedLog(f"log {log.topics[0][:10]} lacks topic {i}")
    return _address(log.topics[i])


def _data(log: StateLog, words: int) -> bytes:
    if len(log.data) != 32 * words:
        raise MalformedLog(f"log {log.topics[0][:10]} has {len(log.data)} data bytes, not {32 * words}")
    return log.data


def _scaled_inverse(balance: int, index: int, debt: bool) -> int:
    """The scaled balance whose balance at `index` is `balance` (aTokens round down, debt rounds up)."""
    scaled = balance * RAY // index if debt else -(-balance * RAY // index)
    if (debt_balance(scaled, index) if debt else a_token_balance(scaled, index)) != balance:
        raise MalformedLog(f"no scaled balance gives {balance} at index {index}")
    return scaled


# ---------------------------------------------------------------------------------------------------------
# The part


class AaveV3Market(StatePart[AaveEntry]):
    """Reserves (key: asset), accounts (key: user) and e-mode categories (key: `emode:<id>`) of one Pool."""

    name: ClassVar[str] = "aave_v3"
    topics: ClassVar[tuple[str, ...]] = TRACKED_TOPICS

    def __init__(self, pool: str, entries: Iterable[tuple[str, AaveEntry]] = (), clock_blocks: int = 256):
        self.pool = pool.lower()
        self._tokens: dict[str, tuple[str, bool]] = {}  # token (lower) -> (asset, is debt token)
        self._sources: dict[str, set[str]] = {}  # price feed (lower) -> assets
        self._holders: dict[str, set[str]] = {}  # asset -> users whose HF its price moves
        self._times: OrderedDict[int, int] = OrderedDict()
        self._clock_blocks = clock_blocks
        super().__init__(())
        for key, entry in entries:
            self._set(key, entry)

    # --- indexes, kept in step with every change (the store's rollback goes through _set/_drop too)

    def _set(self, key: str, entry: AaveEntry) -> None:
        self._unindex(key)
        super()._set(key, entry)
        if isinstance(entry, AaveReserve):
            self._tokens[entry.a_token.lower()] = (key, False)
            self._tokens[entry.debt_token.lower()] = (key, True)
            self._sources.setdefault(entry.feed.lower(), set()).add(key)
        elif isinstance(entry, AaveAccount):
            for asset, position in entry.positions:
                if position.at_risk:
                    self._holders.setdefault(asset, set()).add(key)

    def _drop(self, key: str) -> None:
        self._unindex(key)
        super()._drop(key)

    def _unindex(self, key: str) -> None:
        old = self.entries.get(key)
        if isinstance(old, AaveReserve):
            self._tokens.pop(old.a_token.lower(), None)
            self._tokens.pop(old.debt_token.lower(), None)
            self._sources.get(old.feed.lower(), set()).discard(key)
        elif isinstance(old, AaveAccount):
            for asset, _ in old.positions:
                self._holders.get(asset, set()).discard(key)

    # --- reads

    def reserves(self) -> dict[str, AaveReserve]:
        return {k: e for k, e in self.entries.items() if isinstance(e, AaveReserve)}

    def accounts(self) -> dict[str, AaveAccount]:
        return {k: e for k, e in self.entries.items() if isinstance(e, AaveAccount)}

    def reserve(self, asset: str) -> AaveReserve:
        entry = self.get(asset)
        if not isinstance(entry, AaveReserve):
            raise KeyError(f"no Aave reserve {asset}")
        return entry

    def account(self, user: str) -> AaveAccount | None:
        entry = self.get(user)
        return entry if isinstance(entry, AaveAccount) else None

    def e_mode(self, category_id: int) -> EModeCategory | None:
        entry = self.entries.get(emode_key(category_id))
        return entry.category if isinstance(entry, AaveEMode) and category_id != 0 else None

    def assets_priced_by(self, feed: str) -> tuple[str, ...]:
        """The reserves whose oracle price `feed` (an `AaveReserve.feed` address) publishes."""
        return tuple(sorted(self._sources.get(feed.lower(), ())))

    def holders(self, asset: str) -> frozenset[str]:
        """Users with debt in `asset`, or with it as non-zero collateral: the accounts its price moves."""
        key = self.reserve(asset).asset
        return frozenset(self._holders.get(key, ()))

    # --- block times

    def observe_block(self, number: int, timestamp: int) -> None:
        """Remember a block's time (logs carry none); call it before applying the block's logs."""
        self._times[number] = timestamp
        self._times.move_to_end(number)
        while len(self._times) > self._clock_blocks:
            self._times.popitem(last=False)

    def _timestamp(self, log: StateLog) -> int:
        stamp = getattr(log, "block_timestamp", None)
        if isinstance(stamp, int):
            return stamp
        if log.block_number in self._times:
            return self._times[log.block_number]
        raise MissingBlockTime(f"no time known for block {log.block_number}: call observe_block first")

    # --- StatePart

    def affected(self, log: StateLog) -> Sequence[str]:
        address = log.address.lower()
        topic0 = log.topics[0] if log.topics else ""
        if address == self.pool:
            return self._pool_keys(topic0, log)
        token = self._tokens.get(address)
        if token is not None:
            if len(log.topics) != 3:
                return ()
            if topic0 == TOKEN_MINT:  # value == balanceIncrease: interest shown on a transfer, no change
                moved = log.data[:32] != log.data[32:64]
                return (token[0], _address(log.topics[2])) if moved else ()
            if topic0 == TOKEN_BURN:
                return (token[0], _address(log.topics[1]))
            if topic0 == BALANCE_TRANSFER:
                return (_address(log.topics[1]), _address(log.topics[2]))
            return ()
        if topic0 == ANSWER_UPDATED:
            return tuple(sorted(self._sources.get(address, ())))
        return ()

    def _pool_keys(self, topic0: str, log: StateLog) -> tuple[str, ...]:
        if len(log.topics) < 2:
            return ()
        if topic0 in (USER_EMODE_SET,):
            return (_address(log.topics[1]),)
        if topic0 in (COLLATERAL_ENABLED, COLLATERAL_DISABLED):
            return (_address(log.topics[2]),) if len(log.topics) == 3 else ()
        if topic0 == LIQUIDATION_CALL and len(log.topics) == 4:
            keys = {_address(log.topics[1]), _address(log.topics[2])}
            return tuple(k for k in sorted(keys) if isinstance(self.get(k), AaveReserve))
        if topic0 in (FLASH_LOAN, DEFICIT_CREATED):
            asset = _address(log.topics[2]) if len(log.topics) >= 3 else ""
        elif topic0 in POOL_TOPICS:
            asset = _address(log.topics[1])
        else:
            return ()
        return (asset,) if isinstance(self.get(asset), AaveReserve) else ()

    def transition(self, log: StateLog) -> dict[str, AaveEntry]:
        topic0 = log.topics[0]
        at = (log.block_number, log.log_index)
        address = log.address.lower()
        if address == self.pool:
            return self._pool_transition(topic0, log, at)
        if address in self._tokens:
            return self._token_transition(topic0, log, at)
        current = _signed(int(log.topics[1], 16)) if len(log.topics) > 1 else 0
        if current <= 0:  # AaveOracle falls back for a non-positive answer: not modelled, keep the price
            raise MalformedLog(f"price source {log.address} answered {current}")
        return {
            asset: replace(self.reserve(asset), price=current, block_number=at[0], log_index=at[1])
            for asset in self.affected(log)
        }

    def _pool_transition(self, topic0: str, log: StateLog, at: tuple[int, int]) -> dict[str, AaveEntry]:
        if topic0 == USER_EMODE_SET:
            user = _topic_address(log, 1)
            account = self._account_or_new(user)
            category = _word(_data(log, 1), 0)
            return {user: AaveAccount(user, account.positions, category, *at)}
        if topic0 in (COLLATERAL_ENABLED, COLLATERAL_DISABLED):
            asset, user = _topic_address(log, 1), _topic_address(log, 2)
            account = self._account_or_new(user)
            position = replace(account.position(asset), collateral=topic0 == COLLATERAL_ENABLED)
            return {user: account.with_position(asset, position, *at)}
        if topic0 == LIQUIDATION_CALL:
            data = _data(log, 4)
            collateral, debt = _topic_address(log, 1), _topic_address(log, 2)
            # both reserves were brought to the block's time, even one whose only change was an aToken
            # transfer to the liquidator (no ReserveDataUpdated then)
            now = self._timestamp(log)
            out: dict[str, AaveEntry] = {}
            for asset, delta in (
                (collateral, 0 if _word(data, 3) else -_word(data, 1)),
                (debt, _word(data, 0)),
            ):
                if isinstance(self.get(asset), AaveReserve):
                    reserve = out.get(asset) or self.reserve(asset)
                    assert isinstance(reserve, AaveReserve)
                    state = _virtual(reserve.state.accrue(now), delta)
                    out[asset] = replace(reserve, state=state, block_number=at[0], log_index=at[1])
            return out
        asset = _topic_address(log, 2 if topic0 in (FLASH_LOAN, DEFICIT_CREATED) else 1)
        reserve = self.reserve(asset)
        state = reserve.state
        if topic0 == RESERVE_DATA_UPDATED:
            data = _data(log, 5)
            accrued = state.accrue(self._timestamp(log))
            state = replace(
                accrued,
                current_liquidity_rate=_word(data, 0),
                current_variable_borrow_rate=_word(data, 2),
                liquidity_index=_word(data, 3),
                variable_borrow_index=_word(data, 4),
            )
        elif topic0 == SUPPLY:
            state = _virtual(state, _word(_data(log, 2), 1))
        elif topic0 == WITHDRAW:
            state = _virtual(state, -_word(_data(log, 1), 0))
        elif topic0 == BORROW:
            state = _virtual(state, -_word(_data(log, 4), 1))
        elif topic0 == REPAY:
            data = _data(log, 2)
            state = state if _word(data, 1) else _virtual(state, _word(data, 0))
        elif topic0 == FLASH_LOAN:
            data = _data(log, 4)
            if _word(data, 2) == 0:  # repaid, not opened as debt: the premium stays, booked to the treasury
                premium = _word(data, 3)
                state = replace(
                    _virtual(state, premium),
                    accrued_to_treasury=state.accrued_to_treasury
                    + a_token_mint_scaled(premium, state.liquidity_index),
                )
        elif topic0 == ISOLATION_DEBT_UPDATED:
            state = replace(state, isolation_mode_total_debt=_word(_data(log, 1), 0))
        elif topic0 == MINTED_TO_TREASURY:
            state = replace(state, accrued_to_treasury=0)
        elif topic0 == DEFICIT_CREATED:
            state = replace(state, deficit=state.deficit + _word(_data(log, 1), 0))
        elif topic0 == DEFICIT_COVERED:
            state = replace(state, deficit=state.deficit - _word(_data(log, 2), 1))
        return {asset: replace(reserve, state=state, block_number=at[0], log_index=at[1])}

    def _token_transition(self, topic0: str, log: StateLog, at: tuple[int, int]) -> dict[str, AaveEntry]:
        asset, is_debt = self._tokens[log.address.lower()]
        reserve = self.reserve(asset)
        if topic0 == BALANCE_TRANSFER:
            value = _word(_data(log, 2), 0)
            sender, recipient = _topic_address(log, 1), _topic_address(log, 2)
            out: dict[str, AaveEntry] = {}
            for user, delta in ((sender, -value), (recipient, value)):
                account = out.get(user) or self._account_or_new(user)
                assert isinstance(account, AaveAccount)
                position = account.position(asset)
                moved = replace(position, scaled_a_token=position.scaled_a_token + delta)
                out[user] = account.with_position(asset, moved, *at)
            return out
        data = _data(log, 3)
        value, increase, index = _word(data, 0), _word(data, 1), _word(data, 2)
        user = _topic_address(log, 2 if topic0 == TOKEN_MINT else 1)
        account = self._account_or_new(user)
        position = account.position(asset)
        old = position.scaled_debt if is_debt else position.scaled_a_token
        balance = debt_balance(old, index) if is_debt else a_token_balance(old, index)
        new_balance = balance - increase + (value if topic0 == TOKEN_MINT else -value)
        if new_balance < 0:
            raise MalformedLog(f"{user} would hold {new_balance} of {asset}")
        new = _scaled_inverse(new_balance, index, is_debt)
        if new == old:  # interest booked on a transfer: nothing moved
            return {}
        state = reserve.state
        if _topic_address(log, 1).lower() != self.pool:  # a Pool action (a treasury mint does not accrue)
            state = state.accrue(self._timestamp(log))
        if is_debt:
            position = replace(position, scaled_debt=new)
            state = replace(state, scaled_variable_debt=state.scaled_variable_debt + new - old)
        else:
            position = replace(position, scaled_a_token=new)
            state = replace(state, scaled_a_token_supply=state.scaled_a_token_supply + new - old)
        return {
            asset: replace(reserve, state=state, block_number=at[0], log_index=at[1]),
            user: account.with_position(asset, position, *at),
        }

    def _account_or_new(self, user: str) -> AaveAccount:
        return self.account(user) or AaveAccount(user, (), 0, 0, 0)

    def updated(self, chain_id: int, block_number: int, keys: tuple[str, ...], reorg: bool) -> Event:
        reserves = tuple(k for k in keys if isinstance(self.get(k), AaveReserve))
        accounts = tuple(k for k in keys if isinstance(self.get(k), AaveAccount))
        revalued = dict.fromkeys(accounts)
        for asset in reserves:
            revalued.update(dict.fromkeys(sorted(self._holders.get(asset, ()))))
        return AaveUpdated(chain_id, block_number, reserves, accounts, tuple(revalued), reorg=reorg)


def _signed(value: int) -> int:
    return value - (1 << 256) if value >> 255 else value


def _virtual(state: ReserveState, amount: int) -> ReserveState:
    return replace(state, virtual_underlying_balance=state.virtual_underlying_balance + amount)


# ---------------------------------------------------------------------------------------------------------
# Valuation through the model


def aave(market: MarketState) -> AaveV3Market:
    return market.part(AaveV3Market)


def account_positions(
    part: AaveV3Market, user: str, prices: dict[str, int] | None = None
) -> list[UserReserve]:
    """The user's positions as the model's UserReserves (`prices` overrides the oracle's, by asset)."""
    account = part.account(user)
    if account is None:
        return []
    out = []
    for asset, position in account.positions:
        reserve = part.reserve(asset)
        out.append(
            UserReserve(
                reserve=reserve.state,
                price=(prices or {}).get(asset, reserve.price),
                scaled_a_token_balance=position.scaled_a_token,
                scaled_variable_debt=position.scaled_debt,
                using_as_collateral=position.collateral,
                borrowing=position.scaled_debt > 0,
            )
        )
    return out


def account_data(
    part: AaveV3Market, user: str, timestamp: int, prices: dict[str, int] | None = None
) -> AccountData:
    """getUserAccountData of `user` at `timestamp` from the store alone (no RPC)."""
    account = part.account(user)
    e_mode = part.e_mode(account.e_mode) if account is not None else None
    return user_account_data(account_positions(part, user, prices), timestamp, e_mode)


def liquidation_price(part: AaveV3Market, user: str, asset: str, timestamp: int) -> int | None:
    """The lowest price of `asset` (base units) at which the account's health factor is still >= 1, other
    prices fixed; None when `asset` is not its collateral, it is also borrowed, or no price reaches 1."""
    account = part.account(user)
    if account is None:
        return None
    position = account.position(asset)
    if not (position.collateral and position.scaled_a_token) or position.scaled_debt:
        return None
    if account_data(part, user, timestamp).total_debt_base == 0:
        return None

    def healthy(price: int) -> bool:
        return account_data(part, user, timestamp, {asset: price}).health_factor >= WAD

    low, high = 0, max(part.reserve(asset).price, 1)
    if healthy(low):
        return None
    while not healthy(high):
        high *= 2
        if high > 1 << 200:
            return None
    while high - low > 1:  # invariant: unhealthy at low, healthy at high
        mid = (low + high) // 2
        low, high = (low, mid) if healthy(mid) else (mid, high)
    return high


def aave_market(pool: str, entries: Iterable[tuple[str, AaveEntry]], history_blocks: int = 64) -> MarketState:
    """A store holding only the Aave part."""
    return MarketState([AaveV3Market(pool, entries)], history_blocks)
