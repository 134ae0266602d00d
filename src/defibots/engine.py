"""The event bus: Collectors -> Strategies -> Executors, wired by bounded asyncio queues.

The shape is artemis's; what differs is what happens when things go wrong:

- Every strategy has its own bounded event queue and every executor its own bounded action queue. A full
  queue never loses an item silently: each drop is counted per queue (`Engine.stats().queues`) and logged.
  Event queues drop the OLDEST event (a stale block or book top is worth less than the fresh one, and the
  collector must keep reading its socket); action queues make the strategy wait up to `put_timeout_s` for
  room and then drop the NEW action (an action is never silently replaced by another one).
- A collector that raises is restarted with exponential backoff and counted; it never stops the engine.
  A `UserError` (bad config, unknown symbol) is fatal instead: `run()` stops and re-raises it.
- A strategy or executor that raises on one item is counted and logged, and goes on with the next item.
- Actions reach executors by capability, never by the class of the strategy that made them: each action
  class names the `Capability` it needs (a public tx through the executor contract, a bundle, a CEX order,
  a GMX order, a journal record) and goes to every executor with that capability. An action no executor
  can carry out is counted per capability (`Engine.stats().unrouted`) and logged, never silently lost.
- Events and actions carry `Stamps` (perf_counter_ns per stage); the engine keeps the last few thousand
  stage latencies and reports p50/p99 per stage for the live view.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from defibots.errors import UserError
from defibots.events import Event, Stamps, Timer

log = logging.getLogger(__name__)

T = TypeVar("T")

LATENCY_STAGES: dict[str, tuple[str, str]] = {
    "queue": ("queued", "dispatched"),  # waiting for the strategy
    "decide": ("dispatched", "decided"),  # strategy work
    "simulate": ("decided", "simulated"),  # executor queue + simulation
    "send": ("simulated", "sent"),
    "total": ("received", "sent"),
}


class Capability(enum.Enum):
    """What carrying an action out takes; executors are chosen by it."""

    PUBLIC_TX = "public_tx"  # a transaction through our executor contract, to the public mempool
    BUNDLE = "bundle"  # a bundle for Flashbots-protocol relays (and getting ready for one)
    CEX_ORDER = "cex_order"  # an order on a centralized exchange
    GMX_ORDER = "gmx_order"  # a GMX V2 order (the keeper executes it)
    AAVE_LOOP = "aave_loop"  # a step of a leveraged Aave loop through our AaveLoop contract
    HEDGED_ARB = "hedged_arb"  # a single-swap public tx and a CEX order, under one leg-risk policy
    LIQUIDATION = "liquidation"  # Aave liquidations through our Liquidator contract, as a bundle
    RECORD = "record"  # only a journal record: a signal, nothing is sent


@dataclass(kw_only=True)
class Action:
    """Base of what strategies return; `strategy` and the stamps up to `decided` are filled by the engine.

    Every concrete action class sets the `capability` it needs (a class attribute, not a field).
    """

    capability: ClassVar[Capability]
    stamps: Stamps = field(default_factory=Stamps, compare=False, repr=False)
    strategy: str = field(default="", compare=False)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(getattr(cls, "capability", None), Capability):
            raise TypeError(f"action {cls.__name__} must set `capability: ClassVar[Capability]`")


class Collector(ABC):
    """A source of events (chain listener, mempool, CEX feed, timer). Owns its reconnects."""

    @property
    def name(self) -> str:
        return type(self).__name__

    @abstractmethod
    def events(self) -> AsyncIterator[Event]:
        """Yield events until the source ends; raise to be restarted (with backoff) by the engine."""

    async def close(self) -> None:
        """Release connections; called once when the engine stops."""
        return None


class Strategy(ABC):
    """Turns events into actions. Deterministic given its inputs, so it can run in replay and shadow mode."""

    @property
    def name(self) -> str:
        return type(self).__name__

    async def sync_state(self) -> None:
        """Load whatever state the strategy needs before the first event (called once at start)."""
        return None

    @abstractmethod
    async def process_event(self, event: Event) -> Sequence[Action]:
        """Return the actions this event calls for (often none)."""


class Executor(ABC):
    """Does the I/O for actions: simulate, sign, send, record. Nothing is sent that was not simulated.

    `capability` says which actions it carries out: the engine hands it every action whose capability
    matches (each action goes to every executor with its capability).
    """

    capability: ClassVar[Capability]

    @property
    def name(self) -> str:
        return type(self).__name__

    @abstractmethod
    async def execute(self, action: Action) -> None:
        """Carry the action out; mark `action.stamps` "simulated" and "sent" as those steps finish."""

    async def close(self) -> None:
        """Release connections; called once when the engine stops."""
        return None


class OverflowPolicy(enum.Enum):
    DROP_OLDEST = "drop_oldest"
    BLOCK_THEN_DROP_NEW = "block_then_drop_new"


@dataclass(frozen=True, slots=True)
class QueueStats:
    name: str
    size: int
    maxsize: int
    enqueued: int
    dropped: int
    high_water: int
    policy: str


class BoundedQueue(Generic[T]):
    """An asyncio.Queue with a fixed size, an overflow policy and counters."""

    def __init__(self, name: str, maxsize: int, policy: OverflowPolicy, put_timeout_s: float = 1.0) -> None:
        if maxsize < 1:
            raise UserError(f"queue {name}: size must be at least 1")
        self.name = name
        self.policy = policy
        self.put_timeout_s = put_timeout_s
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)
        self.enqueued = 0
        self.dropped = 0
        self.high_water = 0

    async def put(self, item: T) -> bool:
        """Enqueue `item`; False if the new item itself was dropped. Every drop is counted and logged."""
        if self._queue.full() and self.policy is OverflowPolicy.DROP_OLDEST:
            self._queue.get_nowait()
            self._queue.task_done()
            self._count_drop("oldest")
        if self._queue.full():
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation
                async with asyncio.timeout(self.put_timeout_s):
                    await self._queue.put(item)
            except TimeoutError:
                self._count_drop("new")
                return False
        else:
            self._queue.put_nowait(item)
        self.enqueued += 1
        self.high_water = max(self.high_water, self._queue.qsize())
        return True

    def _count_drop(self, which: str) -> None:
        self.dropped += 1
        if self.dropped & (self.dropped - 1) == 0:  # 1st, 2nd, 4th, 8th ... drop: reported, not flooded
            log.warning(
                "queue %s full (%d): dropped the %s item, %d drops so far",
                self.name,
                self._queue.maxsize,
                which,
                self.dropped,
            )

    async def get(self) -> T:
        return await self._queue.get()

    def task_done(self) -> None:
        self._queue.task_done()

    async def join(self) -> None:
        await self._queue.join()

    def qsize(self) -> int:
        return self._queue.qsize()

    def stats(self) -> QueueStats:
        return QueueStats(
            self.name,
            self._queue.qsize(),
            self._queue.maxsize,
            self.enqueued,
            self.dropped,
            self.high_water,
            self.policy.value,
        )


@dataclass(frozen=True, slots=True)
class LatencyStats:
    stage: str
    count: int
    p50_us: float
    p99_us: float
    max_us: float


@dataclass(frozen=True)
class EngineStats:
    """A snapshot for the live view and for tests."""

    uptime_s: float
    events_total: int
    events_per_s: float  # over the last `RATE_WINDOW_S` seconds
    actions_total: int
    queues: tuple[QueueStats, ...]
    collector_restarts: dict[str, int]
    strategy_errors: dict[str, int]
    executor_errors: dict[str, int]
    latency: dict[str, LatencyStats]
    unrouted: dict[str, int] = field(default_factory=dict)
    """Actions no executor has the capability for, by capability value; counted, never silently lost."""

    @property
    def drops_total(self) -> int:
        return sum(q.dropped for q in self.queues)

    @property
    def unrouted_total(self) -> int:
        return sum(self.unrouted.values())


RATE_WINDOW_S = 10


class RateMeter:
    """Events per second over a sliding window of whole seconds."""

    def __init__(self, window_s: int = RATE_WINDOW_S) -> None:
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [second, count]
        self._start = time.monotonic()

    def add(self, n: int = 1) -> None:
        second = int(time.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += n
        else:
            self._buckets.append([second, n])
            while self._buckets[0][0] <= second - self.window_s:
                self._buckets.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        recent = sum(count for second, count in self._buckets if second > now - self.window_s)
        span = min(float(self.window_s), max(now - self._start, 1e-9))
        return recent / span


def percentile(sorted_values: Sequence[int], pct: float) -> int:
    """Nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


class TimerCollector(Collector):
    """Ticks every `interval_s` on the loop's clock, without drift; stops after `count` ticks if given."""

    def __init__(self, name: str, interval_s: float, count: int | None = None) -> None:
        if interval_s <= 0:
            raise UserError(f"timer {name}: interval must be positive")
        self.timer_name = name
        self.interval_s = interval_s
        self.count = count

    @property
    def name(self) -> str:
        return f"timer:{self.timer_name}"

    async def events(self) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        tick = 0
        while self.count is None or tick < self.count:
            await asyncio.sleep(max(0.0, start + (tick + 1) * self.interval_s - loop.time()))
            yield Timer(name=self.timer_name, tick=tick, interval_s=self.interval_s)
            tick += 1


class Engine:
    """Runs collectors, strategies and executors as asyncio tasks joined by bounded queues."""

    def __init__(
        self,
        collectors: Iterable[Collector],
        strategies: Iterable[Strategy],
        executors: Iterable[Executor],
        *,
        event_queue_size: int = 1024,
        action_queue_size: int = 256,
        put_timeout_s: float = 1.0,
        restart_backoff_s: float = 0.1,
        restart_backoff_max_s: float = 30.0,
        latency_samples: int = 4096,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.collectors = list(collectors)
        self.strategies = list(strategies)
        self.executors = list(executors)
        for executor in self.executors:
            if not isinstance(getattr(executor, "capability", None), Capability):
                raise TypeError(f"executor {executor.name} must set `capability: ClassVar[Capability]`")
        self.restart_backoff_s = restart_backoff_s
        self.restart_backoff_max_s = restart_backoff_max_s
        self.stop_timeout_s = stop_timeout_s
        self.event_queues = [
            BoundedQueue[Event](f"events->{s.name}", event_queue_size, OverflowPolicy.DROP_OLDEST)
            for s in self.strategies
        ]
        self.action_queues = [
            BoundedQueue[Action](
                f"actions->{e.name}", action_queue_size, OverflowPolicy.BLOCK_THEN_DROP_NEW, put_timeout_s
            )
            for e in self.executors
        ]
        self._routes: dict[Capability, list[BoundedQueue[Action]]] = {}
        for executor, aqueue in zip(self.executors, self.action_queues, strict=True):
            self._routes.setdefault(executor.capability, []).append(aqueue)
        self.unrouted: dict[Capability, int] = {}
        self.collector_restarts = {c.name: 0 for c in self.collectors}
        self.strategy_errors = {s.name: 0 for s in self.strategies}
        self.executor_errors = {e.name: 0 for e in self.executors}
        self.events_total = 0
        self.actions_total = 0
        self._latency: dict[str, deque[int]] = {k: deque(maxlen=latency_samples) for k in LATENCY_STAGES}
        self._rate = RateMeter()
        self._collector_tasks: list[asyncio.Task[None]] = []
        self._worker_tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._fatal: BaseException | None = None
        self._started_at: float | None = None
        self._closed = False
        self._stop_done = asyncio.Event()

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._started_at is not None:
            return
        self._started_at = time.monotonic()
        for strategy in self.strategies:
            await strategy.sync_state()
        for strategy, queue in zip(self.strategies, self.event_queues, strict=True):
            self._worker_tasks.append(
                asyncio.create_task(self._strategy_loop(strategy, queue), name=f"strategy:{strategy.name}")
            )
        for executor, aqueue in zip(self.executors, self.action_queues, strict=True):
            self._worker_tasks.append(
                asyncio.create_task(self._executor_loop(executor, aqueue), name=f"executor:{executor.name}")
            )
        for collector in self.collectors:
            self._collector_tasks.append(
                asyncio.create_task(self._collector_loop(collector), name=f"collector:{collector.name}")
            )

    async def run(self) -> None:
        """Start and run until `stop()` is called (or a fatal error); always shuts down cleanly."""
        await self.start()
        try:
            await self._stopped.wait()
        finally:
            await self.stop()
        if self._fatal is not None:
            raise self._fatal

    async def run_for(
        self, duration_s: float | None, on_tick: Callable[[], None] | None = None, tick_s: float = 0.25
    ) -> None:
        """`run()` for at most `duration_s` (forever if None), `on_tick` every `tick_s`."""

        async def tick() -> None:
            assert on_tick is not None
            while True:
                await asyncio.sleep(tick_s)
                on_tick()

        ticker = asyncio.create_task(tick()) if on_tick else None
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(duration_s):
                    await self.run()
        finally:
            if ticker:
                ticker.cancel()
            await self.stop()

    async def wait_collectors(self) -> None:
        """Wait until every collector's stream has ended (finite sources, replays)."""
        await asyncio.gather(*self._collector_tasks, return_exceptions=True)

    def pending_tasks(self) -> list[asyncio.Task[None]]:
        """Engine tasks still running (empty after a clean stop)."""
        return [t for t in self._collector_tasks + self._worker_tasks if not t.done()]

    async def settled(self) -> None:
        """Wait until every event queued so far, and every action it led to, was handled (collectors keep
        running): what a lock-step replay waits for between blocks."""
        for queue in self.event_queues:
            await queue.join()
        for aqueue in self.action_queues:
            await aqueue.join()

    async def wait_idle(self) -> None:
        """Wait until every collector has finished and every queued event and action was handled."""
        await self.wait_collectors()
        await self.settled()
        if self._fatal is not None:
            raise self._fatal

    async def stop(self) -> None:
        """Cancel every task, then close collectors and executors (errors while closing are logged).

        A second call waits for the first to finish: a job closes its journal once this returns, and the
        executors still being closed may write their last records to it."""
        if self._closed:
            await self._stop_done.wait()
            return
        self._closed = True
        self._stopped.set()
        try:
            await self._shut_down()
        finally:
            self._stop_done.set()

    async def _shut_down(self) -> None:
        tasks = self._collector_tasks + self._worker_tasks
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.stop_timeout_s)
            for task in stuck:
                log.error("task %s ignored cancellation; left behind", task.get_name())
        closables: list[Collector | Executor] = [*self.collectors, *self.executors]
        for closable in closables:
            try:
                await closable.close()
            except Exception:
                log.exception("closing %s failed", closable.name)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- the three loops

    async def _collector_loop(self, collector: Collector) -> None:
        failures = 0
        while True:
            stream = collector.events()
            try:
                async for event in stream:
                    failures = 0
                    await self._publish(event)
                log.info("collector %s finished", collector.name)
                return
            except asyncio.CancelledError:
                raise
            except UserError as exc:
                log.error("collector %s: %s", collector.name, exc)
                self._fatal = exc
                self._stopped.set()
                return
            except Exception as exc:
                failures += 1
                self.collector_restarts[collector.name] += 1
                delay = min(self.restart_backoff_s * 2 ** (failures - 1), self.restart_backoff_max_s)
                log.warning(
                    "collector %s failed (%s: %s); restart %d in %.2fs",
                    collector.name,
                    type(exc).__name__,
                    exc,
                    self.collector_restarts[collector.name],
                    delay,
                )
                await asyncio.sleep(delay)
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    with contextlib.suppress(Exception):
                        await aclose()

    async def _publish(self, event: Event) -> None:
        self.events_total += 1
        self._rate.add()
        event.stamps.mark_once("queued")
        for queue in self.event_queues:
            await queue.put(event)

    async def _strategy_loop(self, strategy: Strategy, queue: BoundedQueue[Event]) -> None:
        while True:
            event = await queue.get()
            try:
                dispatched = time.perf_counter_ns()
                event.stamps.mark_once("dispatched")
                self._sample("queue", event.stamps.queued, dispatched)
                try:
                    actions = await strategy.process_event(event)
                except Exception:
                    self.strategy_errors[strategy.name] += 1
                    log.exception("strategy %s failed on %s", strategy.name, type(event).__name__)
                    continue
                decided = time.perf_counter_ns()
                self._sample("decide", dispatched, decided)
                for action in actions:
                    stamps = action.stamps
                    stamps.received, stamps.queued = event.stamps.received, event.stamps.queued
                    stamps.dispatched, stamps.decided = dispatched, decided
                    action.strategy = strategy.name
                    self.actions_total += 1
                    await self._route(action)
            finally:
                queue.task_done()

    async def _route(self, action: Action) -> None:
        """Hand `action` to every executor with its capability; count (and log) it when there is none."""
        queues = self._routes.get(action.capability)
        if not queues:
            count = self.unrouted[action.capability] = self.unrouted.get(action.capability, 0) + 1
            if count & (count - 1) == 0:  # 1st, 2nd, 4th ... reported, not flooded
                log.warning(
                    "no executor for %s actions (%s from %s): %d unrouted so far",
                    action.capability.value,
                    type(action).__name__,
                    action.strategy,
                    count,
                )
            return
        for aqueue in queues:
            await aqueue.put(action)

    async def _executor_loop(self, executor: Executor, queue: BoundedQueue[Action]) -> None:
        while True:
            action = await queue.get()
            try:
                await executor.execute(action)
            except Exception:
                self.executor_errors[executor.name] += 1
                log.exception("executor %s failed on %s", executor.name, type(action).__name__)
            finally:
                s = action.stamps
                self._sample("simulate", s.decided, s.simulated)
                self._sample("send", s.simulated, s.sent)
                self._sample("total", s.received, s.sent)
                queue.task_done()

    def _sample(self, stage: str, start: int, end: int) -> None:
        if start and end:
            self._latency[stage].append(end - start)

    # ---------------------------------------------------------------- stats

    def stats(self) -> EngineStats:
        latency = {}
        for stage, samples in self._latency.items():
            if samples:
                ordered = sorted(samples)
                latency[stage] = LatencyStats(
                    stage,
                    len(ordered),
                    percentile(ordered, 50) / 1000,
                    percentile(ordered, 99) / 1000,
                    ordered[-1] / 1000,
                )
        return EngineStats(
            uptime_s=time.monotonic() - self._started_at if self._started_at is not None else 0.0,
            events_total=self.events_total,
            events_per_s=self._rate.rate(),
            actions_total=self.actions_total,
            queues=tuple([q.stats() for q in self.event_queues] + [q.stats() for q in self.action_queues]),
            collector_restarts=dict(self.collector_restarts),
            strategy_errors=dict(self.strategy_errors),
            executor_errors=dict(self.executor_errors),
            latency=latency,
            unrouted={c.value: n for c, n in self.unrouted.items()},
        )
