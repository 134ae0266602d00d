"""The chains the devnet can replicate (`defibots devnet up --chain NAME`), each with its own chain id,
builder, state cache and fork rules, so `Devnet.start` treats every replica alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from defibots.chain import addresses as A
from defibots.devnet import arbitrum, replica
from defibots.errors import UserError


@dataclass(frozen=True)
class ReplicaProfile:
    """One replica: how to build it on an empty anvil, where its cache is, how to tell a node holds it."""

    name: str
    chain_id: int
    """The id the replica (and an empty node of this profile) runs under."""
    cache_path: Callable[[], Path]
    build: Callable[[str, Sequence[str], Callable[[str], None] | None], None]
    present: Callable[[str], bool]
    fork_chain_id: int | None = None
    """The id a fork runs under; None keeps the forked RPC's own id."""
    fork_sources: tuple[int, ...] = ()
    """The chain ids a fork may start from; empty: any RPC."""


PROFILES: dict[str, ReplicaProfile] = {
    "mainnet": ReplicaProfile(
        "mainnet", A.DEVNET, replica.cache_path, replica.build_replica, replica.replica_present
    ),
    "arbitrum": ReplicaProfile(
        "arbitrum", A.ARBITRUM_DEVNET, arbitrum.cache_path, arbitrum.build_replica, arbitrum.replica_present,
        fork_chain_id=A.ARBITRUM_DEVNET, fork_sources=(A.ARBITRUM, A.ARBITRUM_DEVNET),
    ),
}  # fmt: skip
"""By name. A fork of Arbitrum runs under the replica's id too: dev-key signatures there never replay on
Arbitrum One, and the id still selects the arbitrum address book."""
DEFAULT_PROFILE = "mainnet"


def replica_profile(name: str) -> ReplicaProfile:
    """The profile called `name`; an unknown one is a user error (one line)."""
    if name not in PROFILES:
        raise UserError(f"unknown devnet chain {name!r} (known: {', '.join(PROFILES)})")
    return PROFILES[name]
