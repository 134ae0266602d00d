"""Async client for Flashbots-protocol relays: send, call and cancel bundles, and mev_sendBundle.

Every request body is serialized once and those exact bytes are both signed (X-Flashbots-Signature) and
sent. Each relay has its own token buckets per method (Flashbots' per-IP limits: eth_sendBundle
1800/min, eth_callBundle 300/min), and a fan-out sends to several relays concurrently.

Retry policy (decided here, on purpose conservative):
- Retried: failures where the request provably did not reach the relay — connection refused / DNS /
  connect timeout (aiohttp raises ClientConnectorError before a byte of the body is written) — and HTTP
  429, where the relay answered that it did not process the request (honouring Retry-After).
- Read-only / idempotent methods (eth_callBundle, eth_cancelBundle) are also retried after a timeout or 5xx.
- Submissions (eth_sendBundle, mev_sendBundle) are never retried once the body may have been received:
  after a read timeout, a dropped connection or a 5xx the caller gets RelayTimeout / RelayHTTPError.
  Real relays dedupe an identical eth_sendBundle (same txs, same block -> same bundle hash), so a double
  send would usually be harmless; but not every relay or builder dedupes, duplicates count against rate
  limits and reputation, and a late retry carrying a replacementUuid can resurrect a bundle that was
  cancelled or replaced in between. The next slot's re-send is the safe retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from eth_account.signers.local import LocalAccount

from defibots.execution.bundles import Bundle, call_bundle_params, send_bundle_params
from defibots.execution.flashbots_auth import SIGNATURE_HEADER, sign_body

DEFAULT_RATE_LIMITS: dict[str, float] = {
    "eth_sendBundle": 1800.0,
    "mev_sendBundle": 1800.0,
    "eth_callBundle": 300.0,
    "eth_cancelBundle": 1800.0,
}
"""Requests per minute per relay and method (Flashbots relay per-IP limits)."""
SUBMISSION_METHODS = frozenset({"eth_sendBundle", "mev_sendBundle", "eth_sendPrivateTransaction"})


class RelayError(Exception):
    """A relay refused or failed a request. code/message come from the JSON-RPC error when there is one."""

    def __init__(self, relay: str, message: str, code: int | None = None) -> None:
        super().__init__(f"{relay}: {message}" + (f" (code {code})" if code is not None else ""))
        self.relay = relay
        self.message = message
        self.code = code


class RelayHTTPError(RelayError):
    """A non-200 HTTP answer (403 signature check, 429 rate limit, 5xx ...)."""

    def __init__(self, relay: str, status: int, message: str, code: int | None = None) -> None:
        super().__init__(relay, f"HTTP {status}: {message}", code)
        self.status = status


class RelayTimeout(RelayError):
    """No answer in time. For submissions the relay may still have received the bundle."""


class RelayUnreachable(RelayError):
    """The connection could not be made (nothing was sent)."""


class TokenBucket:
    """Requests per minute with a burst of one second's worth; acquire() waits for a token."""

    def __init__(
        self, per_minute: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute <= 0:
            raise ValueError("rate must be positive")
        self.rate = per_minute / 60.0
        self.capacity = burst if burst is not None else max(1.0, self.rate)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def try_acquire(self) -> bool:
        self._refill()
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        async with self._lock:
            while not self.try_acquire():
                await asyncio.sleep((1.0 - self.tokens) / self.rate)


@dataclass
class RelayStats:
    requests: int = 0
    """HTTP requests actually written (retries included)."""
    retries: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


class RelayClient:
    """One relay endpoint, signing with a reputation key (never the funds key)."""

    def __init__(
        self,
        url: str,
        signer: LocalAccount,
        timeout: float = 5.0,
        connect_timeout: float = 2.0,
        rate_limits: dict[str, float] | None = None,
        max_attempts: int = 3,
        backoff: float = 0.2,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.url = url
        self.signer = signer
        self.timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self.limits = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self._session = session
        self._owns_session = session is None
        self._buckets: dict[str, TokenBucket] = {}
        self._ids = 0
        self.stats = RelayStats()

    def _bucket(self, method: str) -> TokenBucket:
        if method not in self._buckets:
            self._buckets[method] = TokenBucket(self.limits.get(method, 600.0))
        return self._buckets[method]

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def encode(self, method: str, params: list[Any]) -> tuple[bytes, dict[str, str]]:
        """The exact body bytes and headers (signature over those bytes)."""
        self._ids += 1
        body = json.dumps(
            {"jsonrpc": "2.0", "id": self._ids, "method": method, "params": params}, separators=(",", ":")
        ).encode()
        return body, {"Content-Type": "application/json", SIGNATURE_HEADER: sign_body(body, self.signer)}

    async def request(self, method: str, params: list[Any]) -> Any:
        body, headers = self.encode(method, params)
        submission = method in SUBMISSION_METHODS
        session = self._session_or_new()
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            await self._bucket(method).acquire()
            self.stats.requests += 1
            self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            try:
                async with session.post(
                    self.url, data=body, headers=headers, timeout=self.timeout
                ) as response:
                    status = response.status
                    text = await response.read()
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                # Raised while connecting: not a byte of the body was written, so a retry cannot double-send.
                if last:
                    raise RelayUnreachable(self.url, f"cannot connect: {exc}") from None
                await self._pause(attempt)
                continue
            except (TimeoutError, aiohttp.ServerTimeoutError):
                if submission or last:
                    note = "; not retried, the relay may have received it" if submission else ""
                    raise RelayTimeout(
                        self.url, f"{method} timed out after {self.timeout.total}s{note}"
                    ) from None
                await self._pause(attempt)
                continue
            except aiohttp.ClientError as exc:
                if submission or last:
                    raise RelayError(
                        self.url, f"{method} failed after sending: {exc.__class__.__name__} {exc}"
                    ) from None
                await self._pause(attempt)
                continue
            if status == 429 and not last:
                await self._pause(attempt, retry_after)
                continue
            if status >= 500 and not submission and not last:
                await self._pause(attempt)
                continue
            return self._result(method, status, text)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _pause(self, attempt: int, retry_after: str | None = None) -> None:
        self.stats.retries += 1
        delay = self.backoff * 2 ** (attempt - 1)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(float(retry_after), 10.0))
        await asyncio.sleep(delay)

    def _result(self, method: str, status: int, text: bytes) -> Any:
        try:
            reply = json.loads(text)
        except ValueError:
            reply = None
        error = _error_of(reply)
        if status != 200:
            if error is not None:
                raise RelayHTTPError(self.url, status, error[1], error[0])
            raise RelayHTTPError(self.url, status, text[:200].decode(errors="replace").strip() or "no body")
        if reply is None:
            raise RelayError(self.url, f"{method}: answer is not JSON: {text[:80]!r}")
        if error is not None:
            raise RelayError(self.url, error[1], error[0])
        if not isinstance(reply, dict) or "result" not in reply:
            raise RelayError(self.url, f"{method}: malformed answer {str(reply)[:80]}")
        return reply["result"]

    async def send_bundle(self, bundle: Bundle) -> str:
        """eth_sendBundle; returns the relay's bundleHash."""
        result = await self.request("eth_sendBundle", [send_bundle_params(bundle)])
        if isinstance(result, dict) and "bundleHash" in result:
            return str(result["bundleHash"])
        raise RelayError(self.url, f"eth_sendBundle: unexpected answer {str(result)[:80]}")

    async def call_bundle(
        self, bundle: Bundle, state_block: int | str = "latest", timestamp: int | None = None
    ) -> dict[str, Any]:
        result = await self.request("eth_callBundle", [call_bundle_params(bundle, state_block, timestamp)])
        if not isinstance(result, dict):
            raise RelayError(self.url, f"eth_callBundle: unexpected answer {str(result)[:80]}")
        return result

    async def cancel_bundle(self, replacement_uuid: str) -> Any:
        return await self.request("eth_cancelBundle", [{"replacementUuid": replacement_uuid}])

    async def mev_send_bundle(self, params: dict[str, Any]) -> Any:
        return await self.request("mev_sendBundle", [params])

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None


def _error_of(reply: Any) -> tuple[int | None, str] | None:
    """(code, message) from a JSON-RPC error, or Flashbots' older {"error": "text"} shape."""
    if not isinstance(reply, dict) or "error" not in reply:
        return None
    error = reply["error"]
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, int) else None, str(error.get("message", error)))
    return (None, str(error))


@dataclass(frozen=True)
class SendOutcome:
    """One eth_sendBundle to one relay for one target block."""

    relay: str
    block_number: int
    bundle_hash: str | None
    error: RelayError | None
    sent_at: float
    answered_at: float

    @property
    def ok(self) -> bool:
        return self.error is None


class RelayFanout:
    """The same request to several relays at once; one relay's failure never blocks the others."""

    def __init__(self, clients: Sequence[RelayClient]) -> None:
        self.clients = list(clients)

    async def send_bundle(self, bundle: Bundle, blocks: Sequence[int] | None = None) -> list[SendOutcome]:
        """Send the bundle for each target block (default: its own) to every relay, concurrently."""
        targets = list(blocks) if blocks else [bundle.block_number]

        async def one(client: RelayClient, block: int) -> SendOutcome:
            sent = time.time()
            try:
                answer = await client.send_bundle(bundle.for_block(block))
                return SendOutcome(client.url, block, answer, None, sent, time.time())
            except RelayError as exc:
                return SendOutcome(client.url, block, None, exc, sent, time.time())

        return list(await asyncio.gather(*(one(c, b) for b in targets for c in self.clients)))

    async def cancel_bundle(self, replacement_uuid: str) -> dict[str, Any]:
        async def one(client: RelayClient) -> Any:
            try:
                return await client.cancel_bundle(replacement_uuid)
            except RelayError as exc:
                return exc

        answers = await asyncio.gather(*(one(c) for c in self.clients))
        return {c.url: a for c, a in zip(self.clients, answers, strict=True)}

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
