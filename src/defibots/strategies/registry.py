"""Strategies by name: what each one needs, how to build it, and how it shows in the live table.

A strategy is one module plus a config section. The module defines a module-level `STRATEGY =
StrategySpec(...)`; nothing else is edited to add it:

- built-ins are the modules of the `defibots.strategies` package that define `STRATEGY` (found with
  pkgutil, so there is no central list to forget);
- other packages declare an entry point in the `defibots.strategies` group whose object is a
  `StrategySpec` (or a module defining `STRATEGY`).

Two registrations of one name are an error, never a silent override: which one runs must not depend on
import order or on which packages happen to be installed.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from defibots.chain.events import NewBlock
from defibots.engine import Action, Capability, Strategy
from defibots.errors import UserError
from defibots.events import Event
from defibots.state.store import MarketState
from defibots.state.uniswap import PoolsUpdated

ENTRY_POINT_GROUP = "defibots.strategies"
BUILTIN_PACKAGE = "defibots.strategies"
STATES = ("uniswap", "cex", "aave_loop", "candles")
"""State a strategy may ask for: "uniswap" (the tracked V2/V3 pool models, kept current from the chain),
"cex" (order books of a ccxt venue), "aave_loop" (the signer's Aave loop account, read every block) and
"candles" (closed OHLCV candles of one venue symbol, ccxt fetch_ohlcv)."""
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*\Z")
"""A name is a CLI argument and a TOML key (`[strategies.NAME]`): lower-case, digits, underscores."""

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T", bound=Strategy)


@dataclass(kw_only=True)
class Alert(Action):
    """Something an operator should look at: journaled (a RECORD action), never sent anywhere."""

    capability: ClassVar[Capability] = Capability.RECORD
    kind: str
    message: str
    block_number: int
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StrategyContext:
    """The shared state a job hands a strategy's `build`: the chain and the live pool models."""

    chain_id: int
    market: MarketState
    tokens: tuple[str, ...]
    """Addresses of the tokens whose pools are tracked."""


@dataclass(frozen=True)
class StrategySpec(Generic[S, T]):
    """Everything `defibots run NAME` needs to know about one strategy.

    `settings` is read from `[strategies.NAME]` (unknown keys rejected); a strategy needing "uniswap"
    state may have a `tokens` setting naming the tokens whose pools are tracked. `executors` are the
    capabilities its actions need (RECORD: journaled only; PUBLIC_TX: through the executor contract); a
    job that has no executor for one of them refuses to start.
    """

    name: str
    summary: str
    settings: type[S]
    build: Callable[[StrategyContext, S], T]
    columns: tuple[str, ...]
    rows: Callable[[T], Sequence[Sequence[str]]]
    state: tuple[str, ...] = ("uniswap",)
    events: tuple[type[Event], ...] = (NewBlock, PoolsUpdated)
    executors: tuple[Capability, ...] = (Capability.RECORD,)

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise UserError(f"strategy name {self.name!r} must be lower-case letters, digits and _")
        unknown = [s for s in self.state if s not in STATES]
        if unknown:
            raise UserError(
                f"strategy {self.name}: unknown state {unknown[0]!r} (known: {', '.join(STATES)})"
            )

    @property
    def section(self) -> str:
        return f"strategies.{self.name}"

    def parse_settings(self, raw: Mapping[str, Any]) -> S:
        """The `[strategies.NAME]` section as the strategy's model; a bad key or value is one UserError."""
        known = list(self.settings.model_fields)
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise UserError(f"unknown key {self.section}.{unknown[0]} (known: {', '.join(known) or 'none'})")
        try:
            return self.settings.model_validate(dict(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in (self.section, *first["loc"]))
            raise UserError(f"invalid config value {where}: {first['msg']}") from None


AnySpec = StrategySpec[Any, Any]


@dataclass(frozen=True)
class Registered:
    spec: AnySpec
    origin: str
    """Where it came from: the built-in module, or `entry point NAME = VALUE (dist)`."""


class Registry:
    """The registered strategies by name."""

    def __init__(self, entries: Iterable[Registered] = ()) -> None:
        self._by_name: dict[str, Registered] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Registered) -> None:
        name = entry.spec.name
        if name in self._by_name:
            raise UserError(
                f"strategy {name!r} is registered twice: "
                f"by {self._by_name[name].origin} and by {entry.origin}"
            )
        self._by_name[name] = entry

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def entries(self) -> list[Registered]:
        return [self._by_name[n] for n in self.names()]

    def get(self, name: str) -> AnySpec:
        try:
            return self._by_name[name].spec
        except KeyError:
            raise UserError(
                f"unknown strategy {name!r} (registered: {', '.join(self.names()) or 'none'})"
            ) from None


def _spec_of(obj: object, origin: str) -> AnySpec:
    if isinstance(obj, ModuleType):
        obj = getattr(obj, "STRATEGY", None)
    if not isinstance(obj, StrategySpec):
        raise UserError(f"{origin} is not a StrategySpec (nor a module defining STRATEGY)")
    return obj


def builtin_entries(package: str = BUILTIN_PACKAGE) -> list[Registered]:
    """The modules of `package` that define a module-level `STRATEGY`."""
    pkg = importlib.import_module(package)
    found = []
    for info in pkgutil.iter_modules(pkg.__path__, f"{package}."):
        module = importlib.import_module(info.name)
        spec = getattr(module, "STRATEGY", None)
        if isinstance(spec, StrategySpec):
            found.append(Registered(spec, info.name))
    return found


def entry_point_entries(eps: Iterable[EntryPoint] | None = None) -> list[Registered]:
    """The `defibots.strategies` entry points of installed packages; a broken one is a UserError."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        dist = f" ({ep.dist.name})" if ep.dist is not None else ""
        origin = f"entry point {ep.name} = {ep.value}{dist}"
        try:
            obj = ep.load()
        except Exception as exc:
            raise UserError(f"{origin} failed to load: {type(exc).__name__}: {exc}") from None
        spec = _spec_of(obj, origin)
        if spec.name != ep.name:
            raise UserError(f"{origin} names strategy {spec.name!r}; the entry point must be named the same")
        found.append(Registered(spec, origin))
    return found


def discover(eps: Iterable[EntryPoint] | None = None) -> Registry:
    """Built-ins, then installed packages' entry points (`eps` replaces the installed ones in tests)."""
    return Registry([*builtin_entries(), *entry_point_entries(eps)])
