"""The Python route encoder against the contract's own decoder (decodeRoute via eth_call on a plain anvil)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3

from defibots.chain.addresses import TOKENS
from defibots.execution.executor_client import ExecutorClient, ExecutorRevert
from defibots.execution.route import (
    UINT128_MAX,
    Funding,
    HopKind,
    Payment,
    Route,
    RouteError,
    RouteHop,
)
from defibots.foundry.accounts import dev_account
from defibots.foundry.anvil import AnvilNode

WETH = TOKENS["WETH"].address
USDC = TOKENS["USDC"].address
DAI = TOKENS["DAI"].address
V2_WETH_USDC = "0xB4e16d0168e52d35CaCD2c6185b44281Ec28C9Dc"
V3_WETH_USDC_500 = "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"


@pytest.fixture(scope="module")
def executor() -> Iterator[ExecutorClient]:
    """An Executor on an empty anvil: decodeRoute needs no pools."""
    with AnvilNode() as node:
        w3 = Web3(Web3.HTTPProvider(node.http_url))
        deployer = dev_account(0)
        client, _ = ExecutorClient.deploy(w3, deployer, deployer.address)
        yield client


def test_encoding_is_the_documented_layout() -> None:
    route = Route(
        token_in=WETH,
        amount_in=10**18,
        hops=(RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH)),
        funding=Funding.V3_FLASH_SWAP,
        min_profit=7,
        payment=Payment.WEI,
        payment_value=3,
    )
    expected = (
        "06"  # flags: V3 flash swap (2) | wei payment (1 << 2)
        "02"  # hops
        + f"{10**18:032x}"
        + f"{7:032x}"
        + f"{3:032x}"
        + WETH[2:].lower()
        + "01"
        + V3_WETH_USDC_500[2:].lower()
        + USDC[2:].lower()
        + "0001f4"
        + "00"
        + V2_WETH_USDC[2:].lower()
        + WETH[2:].lower()
        + "0026f2"  # 9970
    )
    assert route.encode().hex() == expected
    assert len(route.encode()) == 70 + 2 * 44
    assert route.is_cycle and route.profit_token == WETH
    assert route.token_ins == (WETH, USDC)


def test_python_validation_matches_the_contract_rules() -> None:
    two = (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH))
    with pytest.raises(RouteError, match="1-4 hops"):
        Route(WETH, 1, ())
    with pytest.raises(RouteError, match="single-pool swap is funded from own balance"):
        Route(WETH, 1, two[:1], funding=Funding.V3_FLASH_SWAP)
    assert Route(WETH, 1, two[:1], min_profit=7).profit_token == USDC  # min_profit: the minimum output
    with pytest.raises(RouteError, match="uint128"):
        Route(WETH, UINT128_MAX + 1, two)
    with pytest.raises(RouteError, match="into itself"):
        Route(WETH, 1, (two[0], RouteHop.v2(V2_WETH_USDC, USDC)))
    with pytest.raises(RouteError, match="V2 flash swap starts with a V2 hop"):
        Route(WETH, 1, two, funding=Funding.V2_FLASH_SWAP)
    with pytest.raises(RouteError, match="profit-share"):
        Route(WETH, 1, (two[0], RouteHop.v2(V2_WETH_USDC, DAI)), payment=Payment.PROFIT_BPS, payment_value=1)
    with pytest.raises(RouteError, match="fee"):
        RouteHop.v2(V2_WETH_USDC, WETH, fee=10_001)
    with pytest.raises(RouteError, match="fee"):
        RouteHop.v3(V3_WETH_USDC_500, WETH, fee=0)


addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
uint128 = st.integers(min_value=0, max_value=UINT128_MAX)


@st.composite
def routes(draw: st.DrawFn) -> Route:
    n = draw(st.integers(min_value=1, max_value=4))
    token_in = draw(addresses)
    hops = []
    token = token_in
    for _ in range(n):
        kind = draw(st.sampled_from(HopKind))
        out = draw(addresses.filter(lambda a, t=token: a != t))  # type: ignore[misc]
        fee_max = 10_000 if kind == HopKind.UNISWAP_V2 else 999_999
        pool = draw(addresses.filter(lambda a: int(a, 16) != 0))
        hops.append(RouteHop(kind, pool, out, draw(st.integers(min_value=1, max_value=fee_max))))
        token = out
    first = hops[0].kind
    flash = Funding.V2_FLASH_SWAP if first == HopKind.UNISWAP_V2 else Funding.V3_FLASH_SWAP
    fundings = [Funding.OWN_BALANCE] if n == 1 else [Funding.OWN_BALANCE, Funding.AAVE_FLASH_LOAN, flash]
    funding = draw(st.sampled_from(fundings))
    payment = draw(st.sampled_from([Payment.NONE, Payment.WEI]))
    return Route(
        token_in=token_in,
        amount_in=draw(uint128),
        hops=tuple(hops),
        funding=funding,
        min_profit=draw(uint128),
        payment=payment,
        payment_value=draw(uint128),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=routes())
def test_random_routes_decode_identically_in_the_contract(executor: ExecutorClient, route: Route) -> None:
    assert Route.decode(route.encode()) == route
    assert executor.decode_route(route) == route


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=routes(), position=st.integers(min_value=0, max_value=245), value=st.integers(0, 255))
def test_python_rejects_exactly_what_the_contract_rejects(
    executor: ExecutorClient, route: Route, position: int, value: int
) -> None:
    data = bytearray(route.encode())
    data[position % len(data)] = value
    try:
        python = Route.decode(bytes(data))
    except RouteError:
        python = None
    try:
        contract = executor.decode_route(bytes(data))
    except ExecutorRevert as exc:
        assert exc.reason is not None and exc.reason.name == "BadRoute"
        contract = None
    assert python == contract


def test_bps_payment_needs_weth_profit_in_both(executor: ExecutorClient) -> None:
    route = Route(
        WETH,
        10**18,
        (RouteHop.v3(V3_WETH_USDC_500, USDC, 500), RouteHop.v2(V2_WETH_USDC, WETH)),
        payment=Payment.PROFIT_BPS,
        payment_value=2_500,
    )
    assert executor.decode_route(route) == route
    bad = bytearray(route.encode())
    bad[-23:-3] = bytes.fromhex(DAI[2:])  # last token_out: DAI instead of WETH
    with pytest.raises(RouteError):
        Route.decode(bytes(bad))
    with pytest.raises(ExecutorRevert, match="BadRoute"):
        executor.decode_route(bytes(bad))
