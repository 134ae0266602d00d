"""What Uniswap's router calls (V2 Router02, V3 SwapRouter, SwapRouter02) do: PendingSwap records.

Pure: no web3, no I/O, so the mempool watcher, replay and tests share it. A selector table (4 bytes ->
compiled argument reader + handler) is built once per router kind from the ABI JSON in chain/abi; the
argument readers come from `calldata_decoder` (a strict ABI decoder; its docstring says why it is not
eth_abi). The handlers here turn decoded arguments into swap legs.

Decoding follows what the router contract will execute:
- SwapRouter02 recipients 1 (MSG_SENDER) and 2 (ADDRESS_THIS) are resolved to the sender and the router;
  an input amount of 0 there (CONTRACT_BALANCE) means "the router's balance of token_in" and is reported
  as `amount_specified=None` (usually the output of an earlier leg in the same multicall).
- V3 paths are walked like the router's Path library (a path shorter than one pool reverts; trailing
  bytes shorter than another pool are ignored).
- Calldata the router would reject raises DecodeError (the ABI reading is strict); an unknown selector at
  the top level is not an error and gives None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from eth_typing import ChecksumAddress
from eth_utils import keccak

from defibots.chain import addresses
from defibots.chain.abi import load_abi
from defibots.chain.calldata_decoder import DecodeError as DecodeError
from defibots.chain.calldata_decoder import checksum, compile_arguments, function_signature
from defibots.chain.calldata_decoder import checksum_hex as checksum_hex

Protocol = Literal["v2", "v3"]

MAX_MULTICALL_DEPTH = 4


class RouterKind(Enum):
    V2_ROUTER02 = "UniswapV2Router02"
    V3_SWAP_ROUTER = "SwapRouter"
    V3_SWAP_ROUTER02 = "SwapRouter02"


MAINNET_ROUTERS: dict[str, RouterKind] = {
    addresses.UNISWAP_V2_ROUTER02: RouterKind.V2_ROUTER02,
    addresses.UNISWAP_V3_SWAP_ROUTER: RouterKind.V3_SWAP_ROUTER,
    addresses.UNISWAP_V3_SWAP_ROUTER02: RouterKind.V3_SWAP_ROUTER02,
}


@dataclass(frozen=True, slots=True)
class SwapHop:
    """One pool crossed by a swap, in token-flow order (token_in is what the pool receives)."""

    protocol: Protocol
    token_in: ChecksumAddress
    token_out: ChecksumAddress
    fee: int | None  # V3 fee in hundredths of a bip; None for V2 (the pair's fixed 0.3%)


@dataclass(frozen=True, slots=True)
class SwapLeg:
    """One router swap call: a path of hops with the amount the caller fixed and its slippage bound.

    Exact input: `amount_specified` enters hops[0] and each hop's output feeds the next; `amount_limit` is
    the minimum final output. Exact output: `amount_specified` leaves hops[-1] and amounts are resolved
    from the last hop backwards (V3 exactOutput also executes the pools in that reverse order);
    `amount_limit` is the maximum input.
    """

    function: str
    exact_input: bool
    hops: tuple[SwapHop, ...]
    amount_specified: int | None  # None: SwapRouter02 CONTRACT_BALANCE (router's balance of token_in)
    amount_limit: int
    recipient: ChecksumAddress
    deadline: int | None
    sqrt_price_limit_x96: int = 0  # single-pool V3 calls only; 0 means no limit
    fee_on_transfer: bool = False  # V2 ...SupportingFeeOnTransferTokens: output measured by balances

    @property
    def token_in(self) -> ChecksumAddress:
        return self.hops[0].token_in

    @property
    def token_out(self) -> ChecksumAddress:
        return self.hops[-1].token_out


@dataclass(frozen=True, slots=True)
class PendingSwap:
    """A pending router transaction with every swap it will perform, in execution order of its legs."""

    tx_hash: str
    sender: ChecksumAddress
    router: ChecksumAddress
    router_kind: RouterKind
    nonce: int
    value: int
    gas: int
    tx_type: int
    gas_price: int | None  # legacy / EIP-2930
    max_fee_per_gas: int | None  # EIP-1559 and later
    max_priority_fee_per_gas: int | None
    legs: tuple[SwapLeg, ...]
    deadline: int | None = None  # SwapRouter02 multicall(deadline, ...)
    previous_blockhash: str | None = None  # SwapRouter02 multicall(previousBlockhash, ...)
    raw: bytes | None = None  # the signed transaction, when the watcher has it
    input: bytes = b""  # the calldata the legs were decoded from

    @property
    def hops(self) -> tuple[SwapHop, ...]:
        return tuple(hop for leg in self.legs for hop in leg.hops)

    def effective_gas_price(self, base_fee: int) -> int:
        """What the sender pays per gas in a block with this base fee (ordering and backrun pricing)."""
        if self.max_fee_per_gas is None:
            return self.gas_price or 0
        tip = self.max_priority_fee_per_gas or 0
        return min(self.max_fee_per_gas, base_fee + tip)


# ---------------------------------------------------------------------------------------------------------
# Handlers: decoded arguments -> legs.


@dataclass(slots=True)
class _CallContext:
    kind: RouterKind
    router: ChecksumAddress
    sender: ChecksumAddress
    value: int
    deadline: int | None = None
    previous_blockhash: str | None = None


_Handler = Callable[[str, dict[str, Any], _CallContext, list[SwapLeg]], None]
_VALUE = "<msg.value>"

_MSG_SENDER = checksum(bytes(19) + b"\x01")
_ADDRESS_THIS = checksum(bytes(19) + b"\x02")


def _recipient(address: ChecksumAddress, ctx: _CallContext) -> ChecksumAddress:
    if ctx.kind is RouterKind.V3_SWAP_ROUTER02:
        if address == _MSG_SENDER:
            return ctx.sender
        if address == _ADDRESS_THIS:
            return ctx.router
    return address


def _contract_balance(amount: int, ctx: _CallContext) -> int | None:
    return None if amount == 0 and ctx.kind is RouterKind.V3_SWAP_ROUTER02 else amount


def _v2_path(path: list[ChecksumAddress], function: str) -> tuple[SwapHop, ...]:
    if len(path) < 2:
        raise DecodeError("V2 path needs at least two tokens", function)
    return tuple(SwapHop("v2", path[i], path[i + 1], None) for i in range(len(path) - 1))


def _v3_pools(path: bytes, function: str) -> list[tuple[ChecksumAddress, int, ChecksumAddress]]:
    """(first token, fee, second token) per pool in path byte order, walked like the router's Path library."""
    if len(path) < 43:
        raise DecodeError("V3 path shorter than one pool", function)
    pools = []
    for start in range(0, 1 + (len(path) - 43) // 23 * 23, 23):
        pools.append(
            (
                checksum(path[start : start + 20]),
                int.from_bytes(path[start + 20 : start + 23]),
                checksum(path[start + 23 : start + 43]),
            )
        )
    return pools


def _v2_swap(exact_input: bool, amount_key: str, limit_key: str, fee_on_transfer: bool = False) -> _Handler:
    def handle(function: str, args: dict[str, Any], ctx: _CallContext, legs: list[SwapLeg]) -> None:
        amount = ctx.value if amount_key == _VALUE else args[amount_key]
        if exact_input and amount_key != _VALUE:
            amount = _contract_balance(amount, ctx)
        legs.append(
            SwapLeg(
                function=function,
                exact_input=exact_input,
                hops=_v2_path(args["path"], function),
                amount_specified=amount,
                amount_limit=ctx.value if limit_key == _VALUE else args[limit_key],
                recipient=_recipient(args["to"], ctx),
                deadline=args.get("deadline", ctx.deadline),
                fee_on_transfer=fee_on_transfer,
            )
        )

    return handle


def _v3_single(exact_input: bool) -> _Handler:
    def handle(function: str, args: dict[str, Any], ctx: _CallContext, legs: list[SwapLeg]) -> None:
        p = args["params"]
        hop = SwapHop("v3", p["tokenIn"], p["tokenOut"], p["fee"])
        if exact_input:
            amount, limit = _contract_balance(p["amountIn"], ctx), p["amountOutMinimum"]
        else:
            amount, limit = p["amountOut"], p["amountInMaximum"]
        legs.append(
            SwapLeg(
                function=function,
                exact_input=exact_input,
                hops=(hop,),
                amount_specified=amount,
                amount_limit=limit,
                recipient=_recipient(p["recipient"], ctx),
                deadline=p.get("deadline", ctx.deadline),
                sqrt_price_limit_x96=p["sqrtPriceLimitX96"],
            )
        )

    return handle


def _v3_path(exact_input: bool) -> _Handler:
    def handle(function: str, args: dict[str, Any], ctx: _CallContext, legs: list[SwapLeg]) -> None:
        p = args["params"]
        pools = _v3_pools(p["path"], function)
        if exact_input:
            hops = tuple(SwapHop("v3", a, b, fee) for a, fee, b in pools)
            amount, limit = _contract_balance(p["amountIn"], ctx), p["amountOutMinimum"]
        else:  # exact output paths are encoded from tokenOut back to tokenIn
            hops = tuple(SwapHop("v3", b, a, fee) for a, fee, b in reversed(pools))
            amount, limit = p["amountOut"], p["amountInMaximum"]
        legs.append(
            SwapLeg(
                function=function,
                exact_input=exact_input,
                hops=hops,
                amount_specified=amount,
                amount_limit=limit,
                recipient=_recipient(p["recipient"], ctx),
                deadline=p.get("deadline", ctx.deadline),
            )
        )

    return handle


_HANDLERS: dict[RouterKind, dict[str, _Handler]] = {
    RouterKind.V2_ROUTER02: {
        "swapExactTokensForTokens": _v2_swap(True, "amountIn", "amountOutMin"),
        "swapTokensForExactTokens": _v2_swap(False, "amountOut", "amountInMax"),
        "swapExactETHForTokens": _v2_swap(True, _VALUE, "amountOutMin"),
        "swapTokensForExactETH": _v2_swap(False, "amountOut", "amountInMax"),
        "swapExactTokensForETH": _v2_swap(True, "amountIn", "amountOutMin"),
        "swapETHForExactTokens": _v2_swap(False, "amountOut", _VALUE),
        "swapExactTokensForTokensSupportingFeeOnTransferTokens": _v2_swap(
            True, "amountIn", "amountOutMin", True
        ),
        "swapExactETHForTokensSupportingFeeOnTransferTokens": _v2_swap(True, _VALUE, "amountOutMin", True),
        "swapExactTokensForETHSupportingFeeOnTransferTokens": _v2_swap(
            True, "amountIn", "amountOutMin", True
        ),
    },
    RouterKind.V3_SWAP_ROUTER: {
        "exactInputSingle": _v3_single(True),
        "exactOutputSingle": _v3_single(False),
        "exactInput": _v3_path(True),
        "exactOutput": _v3_path(False),
    },
    RouterKind.V3_SWAP_ROUTER02: {
        "exactInputSingle": _v3_single(True),
        "exactOutputSingle": _v3_single(False),
        "exactInput": _v3_path(True),
        "exactOutput": _v3_path(False),
        "swapExactTokensForTokens": _v2_swap(True, "amountIn", "amountOutMin"),
        "swapTokensForExactTokens": _v2_swap(False, "amountOut", "amountInMax"),
    },
}

_MULTICALL = "multicall"


@dataclass(frozen=True, slots=True)
class _Entry:
    signature: str
    read: (
        Callable[[bytes, int], dict[str, Any]] | None
    )  # None: a router function that performs no swap (permits, sweeps, unwraps ...)
    handler: _Handler | None


def build_selector_table(
    kind: RouterKind, abi: Iterable[Mapping[str, Any]] | None = None
) -> dict[bytes, _Entry]:
    """4-byte selector -> entry for each function in the router ABI; swap functions get a compiled reader."""
    table: dict[bytes, _Entry] = {}
    handlers = _HANDLERS[kind]
    for entry in abi if abi is not None else load_abi(kind.value):
        if entry.get("type") != "function":
            continue
        signature = function_signature(entry)
        selector = keccak(text=signature)[:4]
        name = entry["name"]
        handler = handlers.get(name)
        if handler is None and name != _MULTICALL:
            table[selector] = _Entry(signature, None, None)
            continue
        reader = compile_arguments(entry["inputs"])
        table[selector] = _Entry(signature, reader, handler)
    return table


class RouterCallDecoder:
    """Turns router transactions into PendingSwap records; build once, call many times."""

    def __init__(self, routers: Mapping[str, RouterKind] | None = None) -> None:
        routers = MAINNET_ROUTERS if routers is None else routers
        self.routers: dict[str, tuple[ChecksumAddress, RouterKind]] = {
            address.lower(): (checksum_hex(address), kind) for address, kind in routers.items()
        }
        self.tables: dict[RouterKind, dict[bytes, _Entry]] = {
            kind: build_selector_table(kind) for kind in {kind for _, kind in self.routers.values()}
        }

    def is_router(self, address: str | None) -> bool:
        return address is not None and address.lower() in self.routers

    watches = is_router

    def decode_calldata(
        self, router: str, data: bytes, sender: ChecksumAddress, value: int = 0
    ) -> tuple[tuple[SwapLeg, ...], int | None, str | None] | None:
        """(legs, multicall deadline, multicall previous blockhash), or None if the call performs no swap.

        Raises DecodeError for a swap call the router would reject while decoding its arguments.
        """
        found = self.routers.get(router.lower())
        if found is None:
            return None
        router_address, kind = found
        ctx = _CallContext(kind, router_address, sender, value)
        legs: list[SwapLeg] = []
        if not self._decode_into(self.tables[kind], data, ctx, legs, 0):
            return None
        if not legs:
            return None
        return tuple(legs), ctx.deadline, ctx.previous_blockhash

    def _decode_into(
        self, table: dict[bytes, _Entry], data: bytes, ctx: _CallContext, legs: list[SwapLeg], depth: int
    ) -> bool:
        entry = table.get(data[:4])
        if entry is None:
            return False
        if entry.read is None:
            return True
        try:
            args = entry.read(data, 4)
        except DecodeError as exc:
            raise DecodeError(exc.reason, entry.signature) from None
        if entry.handler is not None:
            entry.handler(entry.signature, args, ctx, legs)
            return True
        # multicall: SwapRouter/SwapRouter02 delegatecall themselves with each item, in order.
        if depth >= MAX_MULTICALL_DEPTH:
            raise DecodeError("multicall nested too deeply", entry.signature)
        if "deadline" in args:
            ctx.deadline = args["deadline"]
        if "previousBlockhash" in args:
            ctx.previous_blockhash = "0x" + args["previousBlockhash"].hex()
        for index, item in enumerate(args["data"]):
            if not self._decode_into(table, item, ctx, legs, depth + 1):
                # the router has no fallback: an unknown inner selector reverts the whole multicall
                raise DecodeError(f"multicall item {index} has an unknown selector", entry.signature)
        return True

    def decode_transaction(self, tx: Mapping[str, Any], raw: bytes | None = None) -> PendingSwap | None:
        """A PendingSwap from a JSON-RPC transaction object (hex quantities), or None if it is not a swap.

        Raises DecodeError for malformed calldata or transaction fields.
        """
        to = tx.get("to")
        if not isinstance(to, str):
            return None
        found = self.routers.get(to.lower())
        if found is None:
            return None
        try:
            text = tx.get("input") or tx.get("data") or "0x"
            data = bytes.fromhex(text[2:])
            sender = checksum_hex(tx["from"])
            value = int(tx.get("value") or "0x0", 16)
            decoded = self.decode_calldata(to, data, sender, value)
            if decoded is None:
                return None
            legs, deadline, previous_blockhash = decoded
            return PendingSwap(
                tx_hash=tx["hash"],
                sender=sender,
                router=found[0],
                router_kind=found[1],
                nonce=int(tx["nonce"], 16),
                value=value,
                gas=int(tx["gas"], 16),
                tx_type=int(tx.get("type") or "0x0", 16),
                gas_price=optional_quantity(tx.get("gasPrice")) if "maxFeePerGas" not in tx else None,
                max_fee_per_gas=optional_quantity(tx.get("maxFeePerGas")),
                max_priority_fee_per_gas=optional_quantity(tx.get("maxPriorityFeePerGas")),
                legs=legs,
                deadline=deadline,
                previous_blockhash=previous_blockhash,
                raw=raw,
                input=data,
            )
        except DecodeError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DecodeError(f"malformed transaction object ({type(exc).__name__}: {exc})") from None


def optional_quantity(value: Any) -> int | None:
    return None if value is None else int(value, 16)
