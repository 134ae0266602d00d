"""Decode swaps sent to Uniswap's routers (V2 Router02, V3 SwapRouter, SwapRouter02) into PendingSwap records.

Pure: no web3, no I/O, so the mempool watcher, replay and tests share it. A selector table (4 bytes ->
compiled argument reader + handler) is built once per router kind from the ABI JSON in chain/abi. The
argument readers are a small ABI decoder specialised at build time instead of eth_abi's generic stream
decoder, because the mempool path has to keep up with tens of thousands of transactions per second.

Decoding follows what the router contract will execute:
- SwapRouter02 recipients 1 (MSG_SENDER) and 2 (ADDRESS_THIS) are resolved to the sender and the router;
  an input amount of 0 there (CONTRACT_BALANCE) means "the router's balance of token_in" and is reported
  as `amount_specified=None` (usually the output of an earlier leg in the same multicall).
- V3 paths are walked like the router's Path library (a path shorter than one pool reverts; trailing
  bytes shorter than another pool are ignored).
- The ABI reading is strict (dirty high bits in addresses/uintN, out-of-range offsets, truncation) and
  raises DecodeError; an unknown selector at the top level is not an error and gives None.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Literal

from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from defibots.chain import addresses
from defibots.chain.abi import load_abi

Protocol = Literal["v2", "v3"]

MAX_MULTICALL_DEPTH = 4


class DecodeError(Exception):
    """Calldata for a known router function that cannot be what the router executes (it would revert)."""

    def __init__(self, reason: str, function: str | None = None) -> None:
        super().__init__(f"{function}: {reason}" if function else reason)
        self.reason = reason
        self.function = function


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
# A small strict ABI reader, compiled per function from the ABI JSON.

_Reader = Callable[[bytes, int], Any]
_ZERO12 = bytes(12)


@dataclass(frozen=True, slots=True)
class _AbiType:
    dynamic: bool
    head_size: int  # bytes the type occupies in its parent's head (32 for dynamic types)
    read: _Reader  # (data, position of this value's encoding) -> value


@lru_cache(maxsize=16384)
def checksum(raw20: bytes) -> ChecksumAddress:
    """Checksummed address from 20 bytes; cached because tokens and senders repeat a lot."""
    return to_checksum_address("0x" + raw20.hex())


@lru_cache(maxsize=16384)
def checksum_hex(text: str) -> ChecksumAddress:
    return to_checksum_address(text)


def _word_reader(check: Callable[[bytes, int], Any]) -> _AbiType:
    return _AbiType(False, 32, check)


def _uint(bits: int) -> _AbiType:
    if bits == 256:
        return _word_reader(lambda data, pos: int.from_bytes(data[pos : pos + 32]))
    bound = 1 << bits

    def read(data: bytes, pos: int) -> int:
        value = int.from_bytes(data[pos : pos + 32])
        if value >= bound:
            raise DecodeError(f"uint{bits} out of range")
        return value

    return _word_reader(read)


def _int(bits: int) -> _AbiType:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def read(data: bytes, pos: int) -> int:
        value = int.from_bytes(data[pos : pos + 32], signed=True)
        if not low <= value < high:
            raise DecodeError(f"int{bits} out of range")
        return value

    return _word_reader(read)


def _address(data: bytes, pos: int) -> ChecksumAddress:
    if data[pos : pos + 12] != _ZERO12:
        raise DecodeError("address with dirty high bytes")
    return checksum(data[pos + 12 : pos + 32])


def _bool(data: bytes, pos: int) -> bool:
    value = int.from_bytes(data[pos : pos + 32])
    if value > 1:
        raise DecodeError("bool out of range")
    return value == 1


def _fixed_bytes(size: int) -> _AbiType:
    def read(data: bytes, pos: int) -> bytes:
        if any(data[pos + size : pos + 32]):
            raise DecodeError(f"bytes{size} with dirty padding")
        return data[pos : pos + size]

    return _word_reader(read)


def _read_bytes(data: bytes, pos: int) -> bytes:
    if pos + 32 > len(data):
        raise DecodeError("truncated bytes length")
    length = int.from_bytes(data[pos : pos + 32])
    end = pos + 32 + length
    if end > len(data):
        raise DecodeError("bytes run past the end of calldata")
    return data[pos + 32 : end]


def _read_string(data: bytes, pos: int) -> str:
    try:
        return _read_bytes(data, pos).decode()
    except UnicodeDecodeError as exc:
        raise DecodeError("string is not UTF-8") from exc


def _offset(data: bytes, at: int, base: int) -> int:
    offset = int.from_bytes(data[at : at + 32])
    if offset >= len(data) - base:
        raise DecodeError("offset out of range")
    return base + offset


def _dynamic_array(element: _AbiType) -> _AbiType:
    def read(data: bytes, pos: int) -> list[Any]:
        if pos + 32 > len(data):
            raise DecodeError("truncated array length")
        length = int.from_bytes(data[pos : pos + 32])
        start = pos + 32
        if length * element.head_size > len(data) - start:
            raise DecodeError("array runs past the end of calldata")
        if element.dynamic:
            return [element.read(data, _offset(data, start + 32 * i, start)) for i in range(length)]
        size = element.head_size
        return [element.read(data, start + size * i) for i in range(length)]

    return _AbiType(True, 32, read)


def _fixed_array(element: _AbiType, length: int) -> _AbiType:
    tuple_type = _tuple([(str(i), element) for i in range(length)])

    def read(data: bytes, pos: int) -> list[Any]:
        return list(tuple_type.read(data, pos).values())

    return _AbiType(tuple_type.dynamic, tuple_type.head_size, read)


def _tuple(components: list[tuple[str, _AbiType]]) -> _AbiType:
    layout: list[tuple[str, int, _AbiType]] = []
    head = 0
    for name, component in components:
        layout.append((name, head, component))
        head += component.head_size
    dynamic = any(component.dynamic for _, component in components)
    head_size = head

    def read(data: bytes, pos: int) -> dict[str, Any]:
        if pos + head_size > len(data):
            raise DecodeError("truncated arguments")
        values: dict[str, Any] = {}
        for name, at, component in layout:
            if component.dynamic:
                values[name] = component.read(data, _offset(data, pos + at, pos))
            else:
                values[name] = component.read(data, pos + at)
        return values

    return _AbiType(dynamic, 32 if dynamic else head_size, read)


def _compile(entry: Mapping[str, Any]) -> _AbiType:
    kind: str = entry["type"]
    if kind.endswith("]"):
        inner, _, size = kind[:-1].rpartition("[")
        element = _compile({**entry, "type": inner})
        return _fixed_array(element, int(size)) if size else _dynamic_array(element)
    if kind == "tuple":
        return _tuple([(c["name"], _compile(c)) for c in entry["components"]])
    if kind == "address":
        return _word_reader(_address)
    if kind == "bool":
        return _word_reader(_bool)
    if kind == "bytes":
        return _AbiType(True, 32, _read_bytes)
    if kind == "string":
        return _AbiType(True, 32, _read_string)
    if kind.startswith("uint"):
        return _uint(int(kind[4:] or 256))
    if kind.startswith("int"):
        return _int(int(kind[3:] or 256))
    if kind.startswith("bytes"):
        return _fixed_bytes(int(kind[5:]))
    raise NotImplementedError(f"ABI type {kind} is not supported by the router decoder")


def canonical_type(entry: Mapping[str, Any]) -> str:
    kind: str = entry["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(canonical_type(c) for c in entry["components"]) + ")" + kind[5:]
    return kind


def function_signature(entry: Mapping[str, Any]) -> str:
    return f"{entry['name']}({','.join(canonical_type(i) for i in entry['inputs'])})"


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
    read: _Reader | None  # None: a router function that performs no swap (permits, sweeps, unwraps ...)
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
        reader = _tuple([(i["name"], _compile(i)) for i in entry["inputs"]]).read
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
                gas_price=_quantity(tx.get("gasPrice")) if "maxFeePerGas" not in tx else None,
                max_fee_per_gas=_quantity(tx.get("maxFeePerGas")),
                max_priority_fee_per_gas=_quantity(tx.get("maxPriorityFeePerGas")),
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


def _quantity(value: Any) -> int | None:
    return None if value is None else int(value, 16)
