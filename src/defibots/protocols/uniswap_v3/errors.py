"""The one exception the V3 models raise where the contracts revert."""

from __future__ import annotations

from defibots.protocols import ContractRevert


class UniswapV3Revert(ContractRevert):
    """A Uniswap V3 library or pool call would revert with `reason`.

    Reasons are the pool's strings ('T', 'R', 'AS', 'SPL', 'LS', 'LA', 'LO', 'TLU', 'TLM', 'TUM') or ''
    for the libraries' bare `require`s and checked casts.
    """
