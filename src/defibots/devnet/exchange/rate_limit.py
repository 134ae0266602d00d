"""Request-weight limits per IP, with Binance's escalation: HTTP 429 first, then a 418 ban for hammering.

Binance counts each request's weight per IP in fixed windows (a minute on the real venue). Over the
limit it answers 429 with a Retry-After header; "repeatedly violating rate limits and/or failing to back
off after receiving 429s will result in an automated IP ban (HTTP status 418)", again with Retry-After.
Here a request that arrives while its IP was told to wait is a strike; `strikes_before_ban` strikes ban
the IP for `ban_s`. A client that waits out Retry-After starts clean.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimits:
    """The venue's limits; the defaults are Binance spot's REQUEST_WEIGHT (6000 per minute)."""

    weight_per_window: int = 6000
    window_s: float = 60.0
    strikes_before_ban: int = 3
    ban_s: float = 120.0


@dataclass(frozen=True)
class Verdict:
    """The answer to one request: allowed (status 200), or refused with 429/418 and seconds to wait."""

    status: int
    retry_after_s: int
    used_weight: int


@dataclass
class _IpState:
    window_start: float = 0.0
    used: int = 0
    backoff_until: float = 0.0
    strikes: int = 0
    banned_until: float = 0.0


class RateLimiter:
    """Tracks each IP's weight in the current window and its back-off and ban state."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._ips: dict[str, _IpState] = {}

    def check(self, ip: str, weight: int) -> Verdict:
        """Count a request of `weight` from `ip`; its verdict says whether to serve it."""
        now = self.clock()
        limits = self.limits
        state = self._ips.setdefault(ip, _IpState())
        if now < state.banned_until:
            return Verdict(418, _seconds(state.banned_until - now), state.used)
        if now < state.backoff_until:
            state.strikes += 1
            if state.strikes >= limits.strikes_before_ban:
                state.banned_until = now + limits.ban_s
                return Verdict(418, _seconds(limits.ban_s), state.used)
            return Verdict(429, _seconds(state.backoff_until - now), state.used)
        state.strikes = 0
        window_start = math.floor(now / limits.window_s) * limits.window_s
        if window_start != state.window_start:
            state.window_start, state.used = window_start, 0
        if state.used + weight > limits.weight_per_window:
            state.backoff_until = window_start + limits.window_s
            return Verdict(429, _seconds(state.backoff_until - now), state.used)
        state.used += weight
        return Verdict(200, 0, state.used)


def _seconds(delay: float) -> int:
    """Retry-After is whole seconds: round up, and never 0 for a refusal."""
    return max(1, math.ceil(delay))
