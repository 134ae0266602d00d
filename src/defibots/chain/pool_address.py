"""CREATE2 addresses of Uniswap pairs and pools: find (and verify callbacks from) pools without a call."""

from __future__ import annotations

from eth_abi import encode
from eth_typing import ChecksumAddress
from eth_utils import keccak, to_checksum_address

from defibots.chain.addresses import (
    UNISWAP_V2_FACTORY,
    UNISWAP_V2_PAIR_INIT_CODE_HASH,
    UNISWAP_V3_FACTORY,
    UNISWAP_V3_POOL_INIT_CODE_HASH,
)


def sort_tokens(a: str, b: str) -> tuple[str, str]:
    if a.lower() == b.lower():
        raise ValueError("identical token addresses")
    return (a, b) if int(a, 16) < int(b, 16) else (b, a)


def _create2(factory: str, salt: bytes, init_code_hash: bytes) -> ChecksumAddress:
    digest = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + init_code_hash)
    return to_checksum_address(digest[12:])


def v2_pair_address(
    token_a: str,
    token_b: str,
    factory: str = UNISWAP_V2_FACTORY,
    init_code_hash: bytes = UNISWAP_V2_PAIR_INIT_CODE_HASH,
) -> ChecksumAddress:
    t0, t1 = sort_tokens(token_a, token_b)
    return _create2(factory, keccak(bytes.fromhex(t0[2:]) + bytes.fromhex(t1[2:])), init_code_hash)


def v3_pool_address(
    token_a: str,
    token_b: str,
    fee: int,
    factory: str = UNISWAP_V3_FACTORY,
    init_code_hash: bytes = UNISWAP_V3_POOL_INIT_CODE_HASH,
) -> ChecksumAddress:
    t0, t1 = sort_tokens(token_a, token_b)
    return _create2(factory, keccak(encode(["address", "address", "uint24"], [t0, t1, fee])), init_code_hash)
