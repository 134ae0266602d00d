"""The Executor contract's route: the model strategies build and the exact packed bytes the contract reads.

Layout (big-endian, no padding; contracts/Executor.sol's NatSpec is the other copy of this table):

    header, 70 bytes
      [0]      flags: bits 0-1 funding, bits 2-3 builder payment mode, bits 4-7 zero
      [1]      hop count n, 1..4 (1: a single-pool swap, own balance only)
      [2:18]   amount_in      uint128
      [18:34]  min_profit     uint128, in the profit token
      [34:50]  payment_value  uint128: wei (Payment.WEI) or bps of gross profit (Payment.PROFIT_BPS)
      [50:70]  token_in
    n hops of 44 bytes
      [0]      kind (0 Uniswap V2 pair or same-interface fork, 1 Uniswap V3 pool)
      [1:21]   pool
      [21:41]  token_out (the next hop's input; swap direction follows from token_in < token_out)
      [41:44]  fee uint24: V2 = input kept per 10_000 (9970 for Uniswap's 0.3%), V3 = pool fee (500 = 0.05%)

The profit token is the last hop's output: the route is a cycle when that is token_in. A single-pool swap
(the on-chain leg of a hedged AMM-CEX trade) is not a cycle: its min_profit is the minimum output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from eth_typing import ChecksumAddress
from eth_utils import is_address, to_checksum_address

from defibots.chain.addresses import TOKENS

HEADER_BYTES = 70
HOP_BYTES = 44
MIN_HOPS = 1
MAX_HOPS = 4
UINT128_MAX = 2**128 - 1
BPS = 10_000
V3_MAX_FEE = 1_000_000
UNISWAP_V2_FEE = 9970
"""Uniswap V2 keeps 997/1000 of the input: 9970 per 10_000, exactly the same rounding."""

WETH = TOKENS["WETH"].address


class RouteError(ValueError):
    """A route the Executor would reject (BadRoute): a bug in the code that built it."""


class Funding(IntEnum):
    """Where the first hop's input comes from."""

    OWN_BALANCE = 0
    V2_FLASH_SWAP = 1
    V3_FLASH_SWAP = 2
    AAVE_FLASH_LOAN = 3
    """Reserved: encodes, but the contract reverts NotSupported."""


class Payment(IntEnum):
    """How the builder is paid (in ETH, to block.coinbase)."""

    NONE = 0
    WEI = 1
    PROFIT_BPS = 2


class HopKind(IntEnum):
    UNISWAP_V2 = 0
    UNISWAP_V3 = 1


def _address(value: str, what: str) -> ChecksumAddress:
    if not is_address(value):
        raise RouteError(f"{what} {value!r} is not an address")
    return to_checksum_address(value)


@dataclass(frozen=True)
class RouteHop:
    """One swap: `pool` turns the previous token into `token_out`."""

    kind: HopKind
    pool: ChecksumAddress
    token_out: ChecksumAddress
    fee: int
    """V2: input kept per 10_000 (Uniswap 9970); V3: the pool's fee in hundredths of a bip (500)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", HopKind(self.kind))
        object.__setattr__(self, "pool", _address(self.pool, "pool"))
        object.__setattr__(self, "token_out", _address(self.token_out, "token_out"))
        if self.pool == "0x" + "00" * 20:
            raise RouteError("pool is the zero address")
        ok = 0 < self.fee <= BPS if self.kind == HopKind.UNISWAP_V2 else 0 < self.fee < V3_MAX_FEE
        if not ok:
            raise RouteError(f"fee {self.fee} out of range for a {self.kind.name} hop")

    @classmethod
    def v2(cls, pool: str, token_out: str, fee: int = UNISWAP_V2_FEE) -> RouteHop:
        return cls(HopKind.UNISWAP_V2, to_checksum_address(pool), to_checksum_address(token_out), fee)

    @classmethod
    def v3(cls, pool: str, token_out: str, fee: int) -> RouteHop:
        return cls(HopKind.UNISWAP_V3, to_checksum_address(pool), to_checksum_address(token_out), fee)

    def encode(self) -> bytes:
        return (
            bytes([self.kind])
            + bytes.fromhex(self.pool[2:])
            + bytes.fromhex(self.token_out[2:])
            + self.fee.to_bytes(3, "big")
        )


@dataclass(frozen=True)
class Route:
    """A 1-4 hop swap route for Executor.execute, validated as the contract's decodeRoute validates it."""

    token_in: ChecksumAddress
    amount_in: int
    hops: tuple[RouteHop, ...]
    funding: Funding = Funding.OWN_BALANCE
    min_profit: int = 0
    payment: Payment = Payment.NONE
    payment_value: int = 0
    """Wei for Payment.WEI, basis points of the gross profit for Payment.PROFIT_BPS."""
    token_ins: tuple[ChecksumAddress, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "token_in", _address(self.token_in, "token_in"))
        object.__setattr__(self, "hops", tuple(self.hops))
        object.__setattr__(self, "funding", Funding(self.funding))
        object.__setattr__(self, "payment", Payment(self.payment))
        if not MIN_HOPS <= len(self.hops) <= MAX_HOPS:
            raise RouteError(f"a route has {MIN_HOPS}-{MAX_HOPS} hops, not {len(self.hops)}")
        for name in ("amount_in", "min_profit", "payment_value"):
            value = getattr(self, name)
            if not 0 <= value <= UINT128_MAX:
                raise RouteError(f"{name} {value} does not fit in uint128")
        token = self.token_in
        ins: list[ChecksumAddress] = []
        for i, hop in enumerate(self.hops):
            if hop.token_out == token:
                raise RouteError(f"hop {i} swaps {token} into itself")
            ins.append(token)
            token = hop.token_out
        object.__setattr__(self, "token_ins", tuple(ins))
        if len(self.hops) == 1 and self.funding != Funding.OWN_BALANCE:
            raise RouteError("a single-pool swap is funded from own balance")
        first = self.hops[0].kind
        if self.funding == Funding.V2_FLASH_SWAP and first != HopKind.UNISWAP_V2:
            raise RouteError("a V2 flash swap starts with a V2 hop")
        if self.funding == Funding.V3_FLASH_SWAP and first != HopKind.UNISWAP_V3:
            raise RouteError("a V3 flash swap starts with a V3 hop")
        if self.payment == Payment.PROFIT_BPS and (self.payment_value > BPS or self.profit_token != WETH):
            raise RouteError("a profit-share payment needs WETH profit and at most 10000 bps")

    @property
    def profit_token(self) -> ChecksumAddress:
        return self.hops[-1].token_out

    @property
    def is_cycle(self) -> bool:
        return self.profit_token == self.token_in

    def encode(self) -> bytes:
        """The packed bytes Executor.execute and decodeRoute read."""
        header = (
            bytes([int(self.funding) | (int(self.payment) << 2), len(self.hops)])
            + self.amount_in.to_bytes(16, "big")
            + self.min_profit.to_bytes(16, "big")
            + self.payment_value.to_bytes(16, "big")
            + bytes.fromhex(self.token_in[2:])
        )
        return header + b"".join(hop.encode() for hop in self.hops)

    @classmethod
    def decode(cls, data: bytes) -> Route:
        """Inverse of encode (raises RouteError where the contract reverts BadRoute)."""
        if len(data) < HEADER_BYTES:
            raise RouteError(f"route of {len(data)} bytes is shorter than its {HEADER_BYTES}-byte header")
        flags, n = data[0], data[1]
        if flags > 0x0F or (flags >> 2) & 3 == 3:
            raise RouteError(f"unknown route flags {flags:#04x}")
        if not MIN_HOPS <= n <= MAX_HOPS or len(data) != HEADER_BYTES + n * HOP_BYTES:
            raise RouteError(f"route of {len(data)} bytes does not hold {n} hops")
        hops = []
        for i in range(n):
            raw = data[HEADER_BYTES + i * HOP_BYTES : HEADER_BYTES + (i + 1) * HOP_BYTES]
            if raw[0] > HopKind.UNISWAP_V3:
                raise RouteError(f"hop {i} has unknown kind {raw[0]}")
            hops.append(
                RouteHop(
                    HopKind(raw[0]),
                    to_checksum_address(raw[1:21]),
                    to_checksum_address(raw[21:41]),
                    int.from_bytes(raw[41:44], "big"),
                )
            )
        return cls(
            token_in=to_checksum_address(data[50:70]),
            amount_in=int.from_bytes(data[2:18], "big"),
            hops=tuple(hops),
            funding=Funding(flags & 3),
            min_profit=int.from_bytes(data[18:34], "big"),
            payment=Payment((flags >> 2) & 3),
            payment_value=int.from_bytes(data[34:50], "big"),
        )
