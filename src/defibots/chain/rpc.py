"""A minimal JSON-RPC transport with batching and state overrides.

web3.py covers typed calls; this exists for the two things the state loaders need and web3 makes awkward:
one HTTP round trip carrying many eth_calls (JSON-RPC batch), each with a state override.
"""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from defibots.errors import UserError


class RpcError(UserError):
    """The node answered with a JSON-RPC error."""


class JsonRpc:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        self.url = url
        self.timeout = timeout
        self._ids = itertools.count(1)

    def _post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(self.url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise RpcError(f"RPC {self.url} answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise UserError(f"cannot reach RPC {self.url}: {getattr(exc, 'reason', exc)}") from None
        except json.JSONDecodeError:
            raise RpcError(f"RPC {self.url} answered something that is not JSON") from None

    def call(self, method: str, *params: Any) -> Any:
        reply = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        )
        return _result(reply, method)

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """Many calls in one round trip; results in the order given (the first error raises)."""
        return [
            _result(reply, method)
            for reply, (method, _) in zip(self.batch_replies(calls), calls, strict=True)
        ]

    def batch_replies(self, calls: Sequence[tuple[str, list[Any]]], chunk: int = 500) -> list[Any]:
        """The raw reply objects (result or error) in the order given, `chunk` calls per round trip."""
        out: list[Any] = []
        for start in range(0, len(calls), chunk):
            part = calls[start : start + chunk]
            first = next(self._ids)
            for _ in range(len(part) - 1):
                next(self._ids)
            payload = [
                {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
                for i, (method, params) in enumerate(part)
            ]
            replies = self._post(payload)
            if not isinstance(replies, list):  # a node answering a whole batch with one error object
                out += [replies] * len(part)
                continue
            by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
            out += [by_id.get(first + i) for i in range(len(part))]
        return out


def _result(reply: Any, method: str) -> Any:
    if not isinstance(reply, dict):
        raise RpcError(f"{method}: malformed RPC reply")
    if "error" in reply:
        error = reply["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        raise RpcError(f"{method} failed: {message}")
    if "result" not in reply:
        raise RpcError(f"{method}: RPC reply has no result")
    return reply["result"]
