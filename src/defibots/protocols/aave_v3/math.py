"""WadRayMath, PercentageMath and MathUtils.mulDivCeil of Aave v3.6, with the contracts' rounding and reverts.

Inputs are uint256 values. The assembly functions revert with no data (reason ''); the Floor/Ceil
variants that v3.5 added check `a * b` against 2**256 without the half-unit term.
"""

from __future__ import annotations

from defibots.protocols.aave_v3.errors import PANIC_DIVISION_BY_ZERO, PANIC_OVERFLOW, AaveV3Revert

MAX_UINT256 = (1 << 256) - 1
MAX_UINT128 = (1 << 128) - 1
WAD = 10**18
HALF_WAD = WAD // 2
RAY = 10**27
HALF_RAY = RAY // 2
WAD_RAY_RATIO = 10**9
PERCENTAGE_FACTOR = 10**4
HALF_PERCENTAGE_FACTOR = PERCENTAGE_FACTOR // 2


def _revert(what: str) -> AaveV3Revert:
    return AaveV3Revert("", what)


def checked(value: int) -> int:
    """A Solidity 0.8 checked uint256 result: Panic(0x11) when it left [0, 2**256)."""
    if not 0 <= value <= MAX_UINT256:
        raise AaveV3Revert(PANIC_OVERFLOW, "uint256 arithmetic overflow")
    return value


def div(a: int, b: int) -> int:
    """A Solidity 0.8 uint256 `a / b`: Panic(0x12) on a zero divisor."""
    if b == 0:
        raise AaveV3Revert(PANIC_DIVISION_BY_ZERO, "division by zero")
    return a // b


def wad_mul(a: int, b: int) -> int:
    """a * b / WAD rounded half up."""
    if b != 0 and a > (MAX_UINT256 - HALF_WAD) // b:
        raise _revert("wadMul overflow")
    return (a * b + HALF_WAD) // WAD


def wad_div(a: int, b: int) -> int:
    """a * WAD / b rounded half up."""
    if b == 0 or a > (MAX_UINT256 - b // 2) // WAD:
        raise _revert("wadDiv by zero or overflow")
    return (a * WAD + b // 2) // b


def ray_mul(a: int, b: int) -> int:
    """a * b / RAY rounded half up."""
    if b != 0 and a > (MAX_UINT256 - HALF_RAY) // b:
        raise _revert("rayMul overflow")
    return (a * b + HALF_RAY) // RAY


def ray_mul_floor(a: int, b: int) -> int:
    """a * b / RAY rounded down."""
    if b != 0 and a > MAX_UINT256 // b:
        raise _revert("rayMulFloor overflow")
    return a * b // RAY


def ray_mul_ceil(a: int, b: int) -> int:
    """a * b / RAY rounded up."""
    if b != 0 and a > MAX_UINT256 // b:
        raise _revert("rayMulCeil overflow")
    return -(-(a * b) // RAY)


def ray_div(a: int, b: int) -> int:
    """a * RAY / b rounded half up."""
    if b == 0 or a > (MAX_UINT256 - b // 2) // RAY:
        raise _revert("rayDiv by zero or overflow")
    return (a * RAY + b // 2) // b


def ray_div_floor(a: int, b: int) -> int:
    """a * RAY / b rounded down."""
    if b == 0 or a > MAX_UINT256 // RAY:
        raise _revert("rayDivFloor by zero or overflow")
    return a * RAY // b


def ray_div_ceil(a: int, b: int) -> int:
    """a * RAY / b rounded up."""
    if b == 0 or a > MAX_UINT256 // RAY:
        raise _revert("rayDivCeil by zero or overflow")
    return -(-(a * RAY) // b)


def ray_to_wad(a: int) -> int:
    """a / 1e9 rounded half up (never reverts)."""
    wad, remainder = divmod(a, WAD_RAY_RATIO)
    return wad + 1 if remainder >= WAD_RAY_RATIO // 2 else wad


def wad_to_ray(a: int) -> int:
    """a * 1e9; reverts when the product overflows."""
    if a * WAD_RAY_RATIO > MAX_UINT256:
        raise _revert("wadToRay overflow")
    return a * WAD_RAY_RATIO


def percent_mul(value: int, percentage: int) -> int:
    """value * percentage / 1e4 rounded half up (percentage in bps)."""
    if percentage != 0 and value > (MAX_UINT256 - HALF_PERCENTAGE_FACTOR) // percentage:
        raise _revert("percentMul overflow")
    return (value * percentage + HALF_PERCENTAGE_FACTOR) // PERCENTAGE_FACTOR


def percent_mul_floor(value: int, percentage: int) -> int:
    """value * percentage / 1e4 rounded down."""
    if percentage != 0 and value > MAX_UINT256 // percentage:
        raise _revert("percentMulFloor overflow")
    return value * percentage // PERCENTAGE_FACTOR


def percent_mul_ceil(value: int, percentage: int) -> int:
    """value * percentage / 1e4 rounded up."""
    if percentage != 0 and value > MAX_UINT256 // percentage:
        raise _revert("percentMulCeil overflow")
    return -(-(value * percentage) // PERCENTAGE_FACTOR)


def percent_div(value: int, percentage: int) -> int:
    """value * 1e4 / percentage rounded half up."""
    if percentage == 0 or value > (MAX_UINT256 - percentage // 2) // PERCENTAGE_FACTOR:
        raise _revert("percentDiv by zero or overflow")
    return (value * PERCENTAGE_FACTOR + percentage // 2) // percentage


def percent_div_ceil(value: int, percentage: int) -> int:
    """value * 1e4 / percentage rounded up."""
    if percentage == 0 or value > MAX_UINT256 // PERCENTAGE_FACTOR:
        raise _revert("percentDivCeil by zero or overflow")
    return -(-(value * PERCENTAGE_FACTOR) // percentage)


def mul_div_ceil(a: int, b: int, c: int) -> int:
    """MathUtils.mulDivCeil: a * b / c rounded up; reverts on c == 0 or when a * b overflows."""
    if c == 0:
        raise _revert("mulDivCeil by zero")
    if b != 0 and a > MAX_UINT256 // b:
        raise _revert("mulDivCeil overflow")
    return -(-(a * b) // c)
