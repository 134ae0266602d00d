"""Relay client: signature header vectors, retries that never double-send, typed errors, rate limits.

Every HTTP behaviour is exercised against a real aiohttp server on a free local port that counts the
requests it receives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import coincurve
import pytest
from aiohttp import web
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from defibots.execution.bundles import Bundle, SignedTx, send_bundle_params
from defibots.execution.flashbots_auth import SIGNATURE_HEADER, SignatureError, sign_body, verify_header
from defibots.execution.relay_client import (
    RelayClient,
    RelayError,
    RelayFanout,
    RelayHTTPError,
    RelayTimeout,
    RelayUnreachable,
    TokenBucket,
)
from defibots.foundry.anvil import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

KEYS = [
    "0x" + "01" * 32,
    "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
    "0x" + "fe" * 31 + "01",
]
BODIES = [
    b'{"jsonrpc":"2.0","id":1,"method":"eth_sendBundle","params":[]}',
    b"",
    b'{"jsonrpc": "2.0", "id": 1, "method": "eth_callBundle", "params": [{"txs": ["0x00"]}]}',
    bytes(range(256)),
]


def independent_header(key_hex: str, body: bytes) -> str:
    """EIP-191 personal_sign over the text "0x"+hex(keccak(body)), computed with coincurve directly."""
    text = ("0x" + keccak(body).hex()).encode()
    assert len(text) == 66
    digest = keccak(b"\x19Ethereum Signed Message:\n" + str(len(text)).encode() + text)
    private = coincurve.PrivateKey(bytes.fromhex(key_hex[2:]))
    sig = private.sign_recoverable(digest, hasher=None)  # r(32) s(32) recid(1)
    signature = sig[:64] + bytes([sig[64] + 27])
    address = to_checksum_address(keccak(private.public_key.format(compressed=False)[1:])[-20:])
    return f"{address}:0x{signature.hex()}"


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("body", BODIES)
async def test_signature_header_matches_independent_eip191(key: str, body: bytes) -> None:
    account: LocalAccount = Account.from_key(key)
    header = sign_body(body, account)
    assert header == independent_header(key, body)
    assert verify_header(header, body) == account.address


async def test_verify_rejects_other_bytes_and_bad_headers() -> None:
    account: LocalAccount = Account.from_key(KEYS[0])
    body = b'{"a":1}'
    header = sign_body(body, account)
    with pytest.raises(SignatureError, match="error in signature check"):
        verify_header(header, b'{"a": 1}')
    with pytest.raises(SignatureError, match="missing X-Flashbots-Signature"):
        verify_header(None, body)
    with pytest.raises(SignatureError, match="expected <address>:<signature>"):
        verify_header("nonsense", body)
    other: LocalAccount = Account.from_key(KEYS[1])
    forged = other.address + ":" + header.split(":")[1]
    with pytest.raises(SignatureError, match=f"error in signature check {other.address}"):
        verify_header(forged, body)


@dataclass
class Step:
    status: int = 200
    payload: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class CountingRelay:
    """A relay stand-in that answers a scripted sequence and records every request it receives."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.received: list[tuple[bytes, dict[str, str]]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((body, dict(request.headers)))
        step = self.steps[min(len(self.received), len(self.steps)) - 1]
        if step.delay:
            await asyncio.sleep(step.delay)
        payload = step.payload
        if payload is None:
            request_id = json.loads(body)["id"]
            payload = {"jsonrpc": "2.0", "id": request_id, "result": {"bundleHash": "0x" + "ab" * 32}}
        return web.json_response(payload, status=step.status, headers=step.headers)

    async def start(self) -> CountingRelay:
        app = web.Application()
        app.router.add_post("/", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def signer() -> AsyncIterator[LocalAccount]:
    account: LocalAccount = Account.from_key(KEYS[2])
    yield account


def a_bundle(block: int = 10) -> Bundle:
    account: LocalAccount = Account.from_key(KEYS[0])
    raw = account.sign_transaction(
        {
            "type": 2,
            "chainId": 31337,
            "nonce": 0,
            "to": account.address,
            "value": 0,
            "gas": 21000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 1,
        }
    ).raw_transaction
    return Bundle((SignedTx.decode(bytes(raw)),), block)


async def run_against(
    steps: list[Step], signer: LocalAccount, **client_args: Any
) -> tuple[CountingRelay, RelayClient]:
    server = await CountingRelay(steps).start()
    client = RelayClient(server.url, signer, backoff=0.01, **client_args)
    return server, client


async def test_sent_bytes_are_the_signed_bytes(signer: LocalAccount) -> None:
    server, client = await run_against([Step()], signer)
    try:
        answer = await client.send_bundle(a_bundle())
        assert answer == "0x" + "ab" * 32
        ((body, headers),) = server.received
        assert verify_header(headers[SIGNATURE_HEADER], body) == signer.address
        assert headers[SIGNATURE_HEADER] == independent_header(KEYS[2], body)
        sent = json.loads(body)
        assert sent["method"] == "eth_sendBundle"
        assert sent["params"] == [send_bundle_params(a_bundle())]
    finally:
        await client.close()
        await server.stop()


async def test_429_is_retried_and_the_bundle_arrives_once_accepted(signer: LocalAccount) -> None:
    limited = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "rate limited"}}
    server, client = await run_against([Step(429, limited, headers={"Retry-After": "0"}), Step()], signer)
    try:
        assert await client.send_bundle(a_bundle()) == "0x" + "ab" * 32
        assert len(server.received) == 2
        assert server.received[0][0] == server.received[1][0]  # same bytes, same signature
        assert client.stats.retries == 1
    finally:
        await client.close()
        await server.stop()


async def test_send_after_timeout_is_never_retried(signer: LocalAccount) -> None:
    server, client = await run_against([Step(delay=1.0)], signer, timeout=0.2)
    try:
        with pytest.raises(RelayTimeout, match="not retried, the relay may have received it"):
            await client.send_bundle(a_bundle())
        await asyncio.sleep(0.3)  # a retry, if any, would have arrived by now
        assert len(server.received) == 1
        assert client.stats.requests == 1
    finally:
        await client.close()
        await server.stop()


async def test_send_after_5xx_is_never_retried(signer: LocalAccount) -> None:
    server, client = await run_against([Step(503, {"error": "upstream unavailable"})], signer)
    try:
        with pytest.raises(RelayHTTPError, match="HTTP 503: upstream unavailable") as info:
            await client.send_bundle(a_bundle())
        assert info.value.status == 503
        assert len(server.received) == 1
    finally:
        await client.close()
        await server.stop()


async def test_call_bundle_is_retried_after_5xx_and_timeout(signer: LocalAccount) -> None:
    result = {"jsonrpc": "2.0", "id": 1, "result": {"bundleHash": "0x01", "results": []}}
    server, client = await run_against(
        [Step(502, {"error": "bad gateway"}), Step(delay=1.0), Step(200, result)], signer, timeout=0.2
    )
    try:
        assert (await client.call_bundle(a_bundle()))["bundleHash"] == "0x01"
        assert len(server.received) == 3
    finally:
        await client.close()
        await server.stop()


async def test_connection_refused_is_retried_then_unreachable(signer: LocalAccount) -> None:
    client = RelayClient(f"http://127.0.0.1:{free_port()}", signer, backoff=0.01, max_attempts=3)
    try:
        with pytest.raises(RelayUnreachable, match="cannot connect"):
            await client.send_bundle(a_bundle())
        assert client.stats.requests == 3 and client.stats.retries == 2
    finally:
        await client.close()


async def test_relay_errors_are_typed(signer: LocalAccount) -> None:
    forbidden = {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": "error in signature check 0xab"},
    }
    invalid = {"jsonrpc": "2.0", "id": 1, "error": {"code": -32602, "message": "blockNumber in the past"}}
    server, client = await run_against(
        [Step(403, forbidden), Step(200, invalid), Step(200, "not-an-object")], signer
    )
    try:
        with pytest.raises(RelayHTTPError) as http_error:
            await client.send_bundle(a_bundle())
        assert (http_error.value.status, http_error.value.code) == (403, -32600)
        assert http_error.value.message == "HTTP 403: error in signature check 0xab"
        with pytest.raises(RelayError) as rpc_error:
            await client.send_bundle(a_bundle())
        assert not isinstance(rpc_error.value, RelayHTTPError)
        assert (rpc_error.value.code, rpc_error.value.message) == (-32602, "blockNumber in the past")
        with pytest.raises(RelayError, match="malformed answer"):
            await client.send_bundle(a_bundle())
        assert len(server.received) == 3
    finally:
        await client.close()
        await server.stop()


async def test_fanout_reports_each_relay_and_block(signer: LocalAccount) -> None:
    good = await CountingRelay([Step()]).start()
    bad = await CountingRelay([Step(500, {"error": "boom"})]).start()
    fanout = RelayFanout([RelayClient(good.url, signer), RelayClient(bad.url, signer)])
    try:
        outcomes = await fanout.send_bundle(a_bundle(10), blocks=[10, 11])
        by_key = {(o.relay, o.block_number): o for o in outcomes}
        assert len(by_key) == 4
        assert by_key[(good.url, 10)].ok and by_key[(good.url, 11)].ok
        assert not by_key[(bad.url, 10)].ok and isinstance(by_key[(bad.url, 11)].error, RelayHTTPError)
        blocks = sorted(json.loads(body)["params"][0]["blockNumber"] for body, _ in good.received)
        assert blocks == ["0xa", "0xb"]
        assert len(bad.received) == 2  # one per block, no retries
    finally:
        await fanout.close()
        await good.stop()
        await bad.stop()


async def test_token_bucket_limits_per_minute() -> None:
    now = [0.0]
    bucket = TokenBucket(1800, clock=lambda: now[0])  # 30/s, burst 30
    assert sum(bucket.try_acquire() for _ in range(40)) == 30
    now[0] += 1 / 30
    assert bucket.try_acquire() and not bucket.try_acquire()
    slow = TokenBucket(300, clock=lambda: now[0])  # eth_callBundle: 5/s, burst 5
    assert sum(slow.try_acquire() for _ in range(10)) == 5
    now[0] += 1.0
    assert sum(slow.try_acquire() for _ in range(10)) == 5


async def test_client_uses_separate_buckets_per_method(signer: LocalAccount) -> None:
    client = RelayClient("http://127.0.0.1:1", signer, rate_limits={"eth_callBundle": 60})
    assert client._bucket("eth_callBundle").capacity == 1.0
    assert client._bucket("eth_sendBundle").capacity == 30.0
    assert client._bucket("eth_sendBundle") is not client._bucket("eth_callBundle")
