"""A small async JSON-RPC client for nodes (anvil, a user's RPC) with batches, for the bundle pipeline.

The simulator, the local relay and inclusion tracking make many small calls per block; one aiohttp
session with keep-alive and JSON-RPC batches keeps that to a few milliseconds.
"""

from __future__ import annotations

import itertools
import json
from types import TracebackType
from typing import Any

import aiohttp

from defibots.errors import UserError


class NodeRPCError(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, method: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method
        self.code = code
        self.message = message
        self.data = data


class NodeUnreachable(UserError):
    """The node did not answer at all (refused, reset, timed out, not JSON)."""


class NodeRPC:
    """JSON-RPC over HTTP. Owns its aiohttp session unless one is passed in."""

    def __init__(self, url: str, timeout: float = 30.0, session: aiohttp.ClientSession | None = None) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None
        self._ids = itertools.count(1)

    async def _post(self, payload: Any) -> Any:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
            self._owns_session = True
        body = json.dumps(payload, separators=(",", ":")).encode()
        try:
            async with self._session.post(
                self.url, data=body, headers={"Content-Type": "application/json"}, timeout=self.timeout
            ) as response:
                text = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise NodeUnreachable(
                f"cannot reach node at {self.url}: {exc.__class__.__name__} {exc}"
            ) from None
        try:
            return json.loads(text)
        except ValueError:
            raise NodeUnreachable(f"node at {self.url} answered non-JSON: {text[:80]!r}") from None

    async def call(self, method: str, *params: Any) -> Any:
        reply = await self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        return _unwrap(method, reply)

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Send calls in one request; each answer is the result or a NodeRPCError instance (not raised)."""
        if not calls:
            return []
        first = next(self._ids)
        payload = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):
            next(self._ids)
        replies = await self._post(payload)
        if not isinstance(replies, list):
            # Some nodes answer a whole batch with one error object.
            error = _as_error("batch", replies)
            return [error for _ in calls]
        by_id = {reply.get("id"): reply for reply in replies if isinstance(reply, dict)}
        out: list[Any] = []
        for i, (method, _) in enumerate(calls):
            reply = by_id.get(first + i)
            if reply is None:
                out.append(NodeRPCError(method, None, "no answer in batch"))
            elif "error" in reply:
                out.append(_as_error(method, reply))
            else:
                out.append(reply.get("result"))
        return out

    async def batch_strict(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Like batch, but raise the first error."""
        results = await self.batch(calls)
        for result in results:
            if isinstance(result, NodeRPCError):
                raise result
        return results

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> NodeRPC:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


def _as_error(method: str, reply: Any) -> NodeRPCError:
    error = reply.get("error") if isinstance(reply, dict) else None
    if not isinstance(error, dict):
        return NodeRPCError(method, None, str(error if error is not None else reply))
    return NodeRPCError(method, error.get("code"), str(error.get("message", error)), error.get("data"))


def _unwrap(method: str, reply: Any) -> Any:
    if isinstance(reply, dict) and "error" in reply:
        raise _as_error(method, reply)
    if not isinstance(reply, dict) or "result" not in reply:
        raise NodeRPCError(method, None, f"malformed reply {str(reply)[:80]}")
    return reply["result"]


def to_int(value: Any) -> int:
    """A JSON-RPC quantity ("0x1a", or an int some nodes send) as an int."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return int(value, 16) if value.startswith(("0x", "0X")) else int(value)
    raise ValueError(f"not a quantity: {value!r}")
