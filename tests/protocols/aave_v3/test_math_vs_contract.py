"""Every Aave v3.6 math model against the real libraries (solc 0.8.27, contracts-aave/AaveMathHarness.sol).

Each function gets >= 2,000 seeded random cases (seed printed; set AAVE_PARITY_SEED to replay) mixing
full-range values, realistic magnitudes and the operands right at each overflow boundary; the model's
value, or its revert reason, must equal the contract's. All cases of one function run in one eth_call
through the harness's multicall.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from defibots.protocols.aave_v3 import (
    AaveV3Revert,
    InterestRateData,
    calculate_available_borrows,
    calculate_available_collateral_to_liquidate,
    calculate_compounded_interest,
    calculate_interest_rates,
    calculate_linear_interest,
)
from defibots.protocols.aave_v3 import math as m
from defibots.protocols.aave_v3.configuration import ReserveConfiguration

from ..conftest import DevChain, JsonRpc
from .aave_abi import Contract, artifact, revert_reason

CASES = 2_000
CHUNK = 500
MAX = m.MAX_UINT256
SEED = int(os.environ.get("AAVE_PARITY_SEED", "20261203"))
YEAR = 365 * 24 * 3600


@pytest.fixture(scope="module")
def harness(anvil_rpc: JsonRpc) -> Contract:
    data = artifact("AaveMathHarness")
    address = DevChain(anvil_rpc).deploy(data["bytecode"]["object"])
    return Contract(anvil_rpc, data["abi"], address)


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    seed = SEED + sum(map(ord, request.node.name))
    print(f"AAVE_PARITY_SEED={SEED} (test seed {seed})")
    return random.Random(seed)


def contract_outcomes(harness: Contract, name: str, cases: Sequence[Sequence[Any]]) -> list[Any]:
    """("ok", value) or ("revert", reason) per case, all through the harness multicall."""
    out: list[Any] = []
    for start in range(0, len(cases), CHUNK):
        chunk = cases[start : start + CHUNK]
        calls = [harness.calldata(name, *args) for args in chunk]
        tx = {"to": harness.address, "data": "0x" + harness.calldata("multicall", calls).hex()}
        tx["gas"] = hex(900_000_000)
        raw = harness.rpc.call("eth_call", [tx, "latest"])
        oks, results = harness.decode("multicall", bytes.fromhex(raw[2:]))
        for ok, result in zip(oks, results, strict=True):
            out.append(("ok", harness.decode(name, result)) if ok else ("revert", revert_reason(result)))
    return out


def model_outcome(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return ("ok", function(*args))
    except AaveV3Revert as revert:
        return ("revert", revert.reason)


def assert_parity(
    harness: Contract, name: str, function: Callable[..., Any], cases: list[tuple[Any, ...]]
) -> None:
    assert len(cases) >= CASES
    expected = contract_outcomes(harness, name, cases)
    mismatches = [
        (args, got, want)
        for args, want in zip(cases, expected, strict=True)
        if (got := model_outcome(function, *args)) != want
    ]
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ (seed {SEED}); first: {mismatches[0]}"
    kinds = {outcome[0] for outcome in expected}
    assert kinds == {"ok", "revert"} or name in NEVER_REVERTS, (
        f"{name}: cases never hit {kinds ^ {'ok', 'revert'}}"
    )


NEVER_REVERTS = {"rayToWad", "availableBorrows"}


def uint(rng: random.Random, bits: int = 256) -> int:
    """Uniform bit length (so small and huge values both come up), with the extremes now and then."""
    if rng.random() < 0.05:
        top = (1 << bits) - 1
        return rng.choice([0, 1, 2, top - 1, top])
    return rng.getrandbits(rng.randint(0, bits))


def clip(value: int) -> int:
    return min(max(value, 0), MAX)


def pairs(rng: random.Random, unit: int, mul: bool) -> list[tuple[int, int]]:
    """(a, b): full range, realistic (b around the unit), at both overflow boundaries, tiny divisors."""
    out: list[tuple[int, int]] = []
    half = unit // 2
    while len(out) < CASES + 200:
        kind = len(out) % 5
        if kind == 0:
            a, b = uint(rng), uint(rng)
        elif kind == 1:
            a, b = rng.getrandbits(rng.randint(0, 128)), rng.randrange(unit // 10 + 1, 3 * unit)
        elif kind == 2:
            b = uint(rng) or 1
            bounds = [(MAX - half) // b, MAX // b] if mul else [(MAX - b // 2) // unit, MAX // unit]
            a = rng.choice(bounds) + rng.choice([-1, 0, 1])
        elif kind == 3:
            a, b = uint(rng), rng.randrange(0, 20_001)
        else:
            b = rng.randrange(1, 3 * unit)
            a = b * rng.randrange(0, 10**6) // 2 + rng.choice(
                [-1, 0, 1, half]
            )  # exact and half-way quotients
        out.append((clip(a), clip(b)))
    return out


BINARY = [
    ("wadMul", m.wad_mul, m.WAD, True),
    ("wadDiv", m.wad_div, m.WAD, False),
    ("rayMul", m.ray_mul, m.RAY, True),
    ("rayMulFloor", m.ray_mul_floor, m.RAY, True),
    ("rayMulCeil", m.ray_mul_ceil, m.RAY, True),
    ("rayDiv", m.ray_div, m.RAY, False),
    ("rayDivFloor", m.ray_div_floor, m.RAY, False),
    ("rayDivCeil", m.ray_div_ceil, m.RAY, False),
    ("percentMul", m.percent_mul, m.PERCENTAGE_FACTOR, True),
    ("percentMulFloor", m.percent_mul_floor, m.PERCENTAGE_FACTOR, True),
    ("percentMulCeil", m.percent_mul_ceil, m.PERCENTAGE_FACTOR, True),
    ("percentDiv", m.percent_div, m.PERCENTAGE_FACTOR, False),
    ("percentDivCeil", m.percent_div_ceil, m.PERCENTAGE_FACTOR, False),
]


@pytest.mark.parametrize(("name", "function", "unit", "mul"), BINARY, ids=[b[0] for b in BINARY])
def test_binary_math(
    harness: Contract,
    rng: random.Random,
    name: str,
    function: Callable[[int, int], int],
    unit: int,
    mul: bool,
) -> None:
    assert_parity(harness, name, function, pairs(rng, unit, mul))


def test_ray_to_wad_and_wad_to_ray(harness: Contract, rng: random.Random) -> None:
    to_wad = [(uint(rng),) for _ in range(CASES)] + [
        (k * 10**9 + 5 * 10**8 + d,) for k in range(50) for d in (-1, 0)
    ]
    assert_parity(harness, "rayToWad", m.ray_to_wad, to_wad)
    bound = MAX // 10**9
    to_ray = [(uint(rng),) for _ in range(CASES)] + [(bound + d,) for d in (-1, 0, 1)]
    assert_parity(harness, "wadToRay", m.wad_to_ray, to_ray)


def test_mul_div_ceil(harness: Contract, rng: random.Random) -> None:
    cases: list[tuple[int, int, int]] = []
    for i in range(CASES):
        if i % 3 == 0:
            cases.append((uint(rng), uint(rng), uint(rng)))
        elif i % 3 == 1:  # debt * price / unit, as the account valuation uses it
            cases.append((uint(rng, 128), rng.randrange(10**12), 10 ** rng.randint(0, 24)))
        else:
            b = uint(rng) or 1
            cases.append((clip(MAX // b + rng.choice([-1, 0, 1])), b, uint(rng, 64)))
    assert_parity(harness, "mulDivCeil", m.mul_div_ceil, cases)


def test_linear_interest(harness: Contract, rng: random.Random) -> None:
    ((_, now),) = [v for _, v in contract_outcomes(harness, "linearInterest", [(0, 0)])]
    cases: list[tuple[int, int]] = []
    for i in range(CASES):
        if i % 4 == 0:
            cases.append((uint(rng), uint(rng, 40)))  # huge rates overflow; future timestamps underflow
        elif i % 4 == 3:
            last = rng.randrange(now)
            cases.append((clip(MAX // max(now - last, 1) + rng.choice([-1, 0, 1])), last))
        else:
            cases.append((rng.randrange(20 * m.RAY), now - rng.randrange(min(now, 10 * YEAR))))

    def model(rate: int, last: int) -> tuple[int, int]:
        return calculate_linear_interest(rate, last, now), now

    assert_parity(harness, "linearInterest", model, cases)


def test_compounded_interest(harness: Contract, rng: random.Random) -> None:
    cases: list[tuple[int, int, int]] = []
    for i in range(CASES):
        last = uint(rng, 40)
        if i % 4 == 0:
            cases.append((uint(rng), last, uint(rng, 41)))  # wraps, rayMul overflows, underflows
        elif i % 4 == 1:
            cases.append((uint(rng, 128), last, last + uint(rng, 40)))
        else:
            cases.append((rng.randrange(10 * m.RAY), last, last + rng.randrange(20 * YEAR)))
    assert_parity(harness, "compoundedInterest", calculate_compounded_interest, cases)


def _rate_cases(rng: random.Random) -> Iterator[tuple[tuple[int, int, int, int], tuple[Any, ...]]]:
    reserve = "0x" + "ab" * 20
    for i in range(CASES):
        if i % 5 == 0:  # anything the storage types allow (the configurator would refuse some)
            curve = (uint(rng, 16), uint(rng, 32), uint(rng, 32), uint(rng, 32))
        else:
            s1 = rng.randrange(0, 2_000)
            curve = (rng.randrange(100, 9_901), rng.randrange(0, 500), s1, rng.randrange(s1, 30_001))
        scale = 10 ** rng.randint(0, 30)
        virtual = rng.randrange(scale + 1)
        added = rng.choice([0, rng.randrange(scale + 1)])
        taken = rng.choice([0, rng.randrange(virtual + added + 1)])
        debt = rng.choice([0, rng.randrange(scale * 3 + 1)])
        deficit = rng.choice([0, 0, rng.randrange(scale + 1)])
        factor = rng.randrange(0, 10_001)
        if i % 7 == 0:
            virtual, added, taken, debt, deficit = (uint(rng) for _ in range(5))
            factor = uint(rng, 16)
        yield curve, (deficit, added, taken, debt, factor, reserve, True, virtual)


def test_interest_rate_strategy(harness: Contract, rng: random.Random) -> None:
    cases = [(curve, params) for curve, params in _rate_cases(rng)]

    def model(curve: tuple[int, int, int, int], params: tuple[Any, ...]) -> tuple[int, int]:
        deficit, added, taken, debt, factor, _, _, virtual = params
        return calculate_interest_rates(
            InterestRateData(*curve),
            total_debt=debt,
            virtual_underlying_balance=virtual,
            liquidity_added=added,
            liquidity_taken=taken,
            unbacked=deficit,
            reserve_factor=factor,
        )

    assert_parity(harness, "interestRates", model, cases)


def test_available_borrows(harness: Contract, rng: random.Random) -> None:
    cases = [
        (uint(rng), uint(rng), uint(rng, 16))
        if i % 2
        else (rng.randrange(10**15), rng.randrange(10**15), rng.randrange(10_001))
        for i in range(CASES)
    ]
    assert_parity(harness, "availableBorrows", calculate_available_borrows, cases)


def test_available_collateral_to_liquidate(harness: Contract, rng: random.Random) -> None:
    cases: list[tuple[int, ...]] = []
    for i in range(CASES):
        fee = rng.choice([0, rng.randrange(10_001)])
        config = ReserveConfiguration(ltv=8000, liquidation_threshold=8300, liquidation_bonus=0, decimals=18)
        bitmap = config.to_bitmap() | fee << 152
        coll_unit, debt_unit = 10 ** rng.choice([6, 8, 18]), 10 ** rng.choice([6, 8, 18])
        coll_price, debt_price = rng.randrange(1, 10**13), rng.randrange(1, 10**13)
        debt = rng.randrange(10 ** rng.randint(0, 30) + 1)
        balance = rng.randrange(10 ** rng.randint(0, 30) + 1)
        bonus = rng.randrange(10_000, 12_501)
        if i % 6 == 0:
            coll_price, debt_price, debt, balance = uint(rng), uint(rng), uint(rng), uint(rng)
            bonus = uint(rng, 16)
        cases.append((bitmap, coll_price, coll_unit, debt_price, debt_unit, debt, balance, bonus))

    def model(
        bitmap: int, cp: int, cu: int, dp: int, du: int, debt: int, bal: int, bonus: int
    ) -> tuple[int, ...]:
        r = calculate_available_collateral_to_liquidate(
            collateral_price=cp,
            collateral_unit=cu,
            debt_price=dp,
            debt_unit=du,
            debt_to_cover=debt,
            collateral_balance=bal,
            liquidation_bonus=bonus,
            liquidation_protocol_fee=ReserveConfiguration.from_bitmap(bitmap).liquidation_protocol_fee,
        )
        return (r.collateral_amount, r.debt_amount_needed, r.protocol_fee, r.collateral_in_base)

    assert_parity(harness, "availableCollateralToLiquidate", model, cases)
