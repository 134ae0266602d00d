"""Mempool decode throughput: router calldata -> PendingSwap, over a mix of realistically encoded calls.

Prints transactions per second for: the calldata decoder alone, the full JSON-RPC-object path the
watcher runs on every pending transaction (including non-router traffic it filters out), and the raw
transaction rebuild the watcher does for each decoded swap. Target: >= 20,000 tx/s for decoding.

    .venv/bin/python scripts/bench_mempool.py [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from defibots.chain import addresses as A
from defibots.chain.mempool import rebuild_raw_transaction
from defibots.chain.router_calls import RouterCallDecoder

TOKENS = [t.address for t in A.TOKENS.values()]
FEES = [100, 500, 3000, 10000]
SINGLE_V1 = "(address,address,uint24,address,uint256,uint256,uint256,uint160)"
PATH_V1 = "(bytes,address,uint256,uint256,uint256)"
SINGLE_02 = "(address,address,uint24,address,uint256,uint256,uint160)"
PATH_02 = "(bytes,address,uint256,uint256)"
MSG_SENDER, ADDRESS_THIS = "0x" + "00" * 19 + "01", "0x" + "00" * 19 + "02"


def _call(signature: str, types: list[str], *args: Any) -> bytes:
    return keccak(text=signature)[:4] + encode(types, list(args))


def _path(rng: random.Random, hops: int) -> tuple[list[str], bytes]:
    tokens = rng.sample(TOKENS, hops + 1)
    encoded = bytes.fromhex(tokens[0][2:])
    for token in tokens[1:]:
        encoded += rng.choice(FEES).to_bytes(3, "big") + bytes.fromhex(token[2:])
    return tokens, encoded


def _calls(rng: random.Random, user: str) -> list[tuple[str, bytes, int]]:
    """(router, calldata, value) in rough proportion to what the routers see."""
    deadline = 1_900_000_000 + rng.randrange(1000)
    amount = rng.randrange(10**15, 10**21)
    tokens, path1 = _path(rng, 1)
    _, path2 = _path(rng, 2)
    single02 = _call(
        f"exactInputSingle({SINGLE_02})", [SINGLE_02], (tokens[0], tokens[1], 500, MSG_SENDER, amount, 1, 0)
    )
    v2_02 = _call(
        "swapExactTokensForTokens(uint256,uint256,address[],address)",
        ["uint256", "uint256", "address[]", "address"],
        amount,
        amount // 2,
        rng.sample(TOKENS, 2),
        ADDRESS_THIS,
    )
    unwrap = _call("unwrapWETH9(uint256,address)", ["uint256", "address"], 1, user)
    exact_out02 = _call(f"exactOutput({PATH_02})", [PATH_02], (path2, MSG_SENDER, amount, amount * 2))
    v2_path = rng.sample(TOKENS, 3)
    return [
        (
            A.UNISWAP_V3_SWAP_ROUTER02,
            _call("multicall(uint256,bytes[])", ["uint256", "bytes[]"], deadline, [single02, unwrap]),
            0,
        ),
        (
            A.UNISWAP_V3_SWAP_ROUTER02,
            _call("multicall(bytes32,bytes[])", ["bytes32", "bytes[]"], b"\x11" * 32, [v2_02, exact_out02]),
            0,
        ),
        (A.UNISWAP_V3_SWAP_ROUTER02, single02, 0),
        (
            A.UNISWAP_V2_ROUTER02,
            _call(
                "swapExactTokensForTokens(uint256,uint256,address[],address,uint256)",
                ["uint256", "uint256", "address[]", "address", "uint256"],
                amount,
                1,
                v2_path,
                user,
                deadline,
            ),
            0,
        ),
        (
            A.UNISWAP_V2_ROUTER02,
            _call(
                "swapExactETHForTokens(uint256,address[],address,uint256)",
                ["uint256", "address[]", "address", "uint256"],
                1,
                [A.TOKENS["WETH"].address, v2_path[1]],
                user,
                deadline,
            ),
            amount,
        ),
        (
            A.UNISWAP_V3_SWAP_ROUTER,
            _call(
                f"exactInputSingle({SINGLE_V1})",
                [SINGLE_V1],
                (tokens[0], tokens[1], 3000, user, deadline, amount, 1, 0),
            ),
            0,
        ),
        (
            A.UNISWAP_V3_SWAP_ROUTER,
            _call(f"exactInput({PATH_V1})", [PATH_V1], (path2, user, deadline, amount, 1)),
            0,
        ),
        (
            A.UNISWAP_V3_SWAP_ROUTER,
            _call(
                "multicall(bytes[])",
                ["bytes[]"],
                [
                    _call(f"exactOutput({PATH_V1})", [PATH_V1], (path1, user, deadline, amount, amount)),
                    unwrap,
                ],
            ),
            0,
        ),
    ]


def _rpc_tx(to: str, data: bytes, value: int, sender: str, nonce: int) -> dict[str, Any]:
    return {
        "type": "0x2",
        "chainId": "0x1",
        "nonce": hex(nonce),
        "gas": "0x493e0",
        "maxFeePerGas": hex(40 * 10**9),
        "maxPriorityFeePerGas": hex(10**9),
        "to": to.lower(),
        "value": hex(value),
        "accessList": [],
        "input": "0x" + data.hex(),
        "r": "0x" + "12" * 32,
        "s": "0x" + "34" * 32,
        "yParity": "0x1",
        "v": "0x1",
        "hash": "0x" + keccak(data + nonce.to_bytes(8, "big")).hex(),
        "from": sender.lower(),
    }


def _rate(label: str, items: list[Any], work: Callable[[Any], object], seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while True:
        for item in items:
            work(item)
        done += len(items)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    rate = done / elapsed
    print(f"{label:<58} {rate:>12,.0f} tx/s  ({done:,} in {elapsed:.2f} s)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = parser.parse_args()
    rng = random.Random(7)
    users = [Account.create(f"bench {i}").address for i in range(50)]
    decoder = RouterCallDecoder()
    calls = [c for i in range(200) for c in _calls(rng, users[i % len(users)])]
    noise = [
        (
            A.TOKENS["USDC"].address,
            _call("transfer(address,uint256)", ["address", "uint256"], users[0], 5),
            0,
        ),
        (users[1], b"", 10**18),
    ]
    mixed = calls + noise * (len(calls) // 8)  # ~20% of pending traffic is not for the routers
    rng.shuffle(mixed)
    txs = [_rpc_tx(to, data, value, users[i % len(users)], i) for i, (to, data, value) in enumerate(mixed)]
    sender = users[0]

    shapes = len(calls) // 200
    print(f"mix: {len(calls)} router calls ({shapes} call shapes), {len(mixed) - len(calls)} non-router txs")
    _rate(
        "decode_calldata (router calls only)",
        calls,
        lambda c: decoder.decode_calldata(c[0], c[1], sender, c[2]),
        args.seconds,
    )
    _rate(
        "decode_transaction (JSON-RPC objects, mixed traffic)", txs, decoder.decode_transaction, args.seconds
    )

    signer = Account.from_key("0x" + "42" * 32)
    signed = []
    for i, (to, data, value) in enumerate(calls[:200]):
        tx = {"type": 2, "chainId": 1, "nonce": i, "gas": 300_000, "maxFeePerGas": 4 * 10**10}
        tx |= {"maxPriorityFeePerGas": 10**9, "to": to, "value": value, "data": data}
        raw = signer.sign_transaction(tx).raw_transaction
        signed.append(_rpc_tx(to, data, value, signer.address, i) | _signature_fields(bytes(raw)))
    _rate("raw rebuild from signed fields (per decoded swap)", signed, rebuild_raw_transaction, args.seconds)


def _signature_fields(raw: bytes) -> dict[str, str]:
    from eth_account.typed_transactions import TypedTransaction
    from hexbytes import HexBytes

    v, r, s = TypedTransaction.from_bytes(HexBytes(raw)).vrs()
    return {"yParity": hex(v), "v": hex(v), "r": hex(r), "s": hex(s), "hash": "0x" + keccak(raw).hex()}


if __name__ == "__main__":
    main()
