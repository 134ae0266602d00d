"""Engine: drops are counted per queue, collectors restart, stage stamps only move forward, actions reach
executors by capability."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import pytest

from defibots.engine import Action, Capability, Collector, Engine, Executor, Strategy, TimerCollector
from defibots.errors import UserError
from defibots.events import STAGES, Event, Timer


def tick(n: int) -> Timer:
    return Timer(name="t", tick=n, interval_s=0.0)


class ListCollector(Collector):
    """Yields ticks; after the first one, optionally waits for `gate` before yielding the rest."""

    def __init__(self, count: int, gate: asyncio.Event | None = None) -> None:
        self.count = count
        self.gate = gate
        self.closed = False

    async def events(self) -> AsyncIterator[Event]:
        for n in range(self.count):
            yield tick(n)
            if n == 0 and self.gate is not None:
                await self.gate.wait()

    async def close(self) -> None:
        self.closed = True


class FlakyCollector(Collector):
    """Fails `failures` times (once after yielding one event), then yields 3 events and ends."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def events(self) -> AsyncIterator[Event]:
        self.calls += 1
        if self.calls == 1:
            yield tick(-1)
        if self.calls <= self.failures:
            raise ConnectionError(f"socket dropped ({self.calls})")
        for n in range(3):
            yield tick(n)


@dataclass(kw_only=True)
class Echo(Action):
    capability: ClassVar[Capability] = Capability.RECORD
    tick: int


class Recorder(Strategy):
    """Records ticks; blocks on `hold` while processing the first event; one Echo action per event."""

    def __init__(
        self, hold: asyncio.Event | None = None, started: asyncio.Event | None = None, fail_on: int = -99
    ):
        self.seen: list[int] = []
        self.hold = hold
        self.started = started
        self.fail_on = fail_on
        self.actions_per_event = 1

    async def process_event(self, event: Event) -> Sequence[Action]:
        assert isinstance(event, Timer)
        if self.started is not None and not self.started.is_set():
            self.started.set()
            if self.hold is not None:
                await self.hold.wait()
        if event.tick == self.fail_on:
            raise ValueError("bad event")
        self.seen.append(event.tick)
        return [Echo(tick=event.tick * 10 + i) for i in range(self.actions_per_event)]


class Sender(Executor):
    """Marks the simulated and sent stages like a real executor; can be held on a gate."""

    capability: ClassVar[Capability] = Capability.RECORD

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.done: list[Action] = []
        self.hold = hold
        self.closed = False

    async def execute(self, action: Action) -> None:
        if self.hold is not None:
            await self.hold.wait()
        action.stamps.mark("simulated")
        action.stamps.mark("sent")
        self.done.append(action)

    async def close(self) -> None:
        self.closed = True


async def test_stage_stamps_are_monotonic_and_latency_is_reported() -> None:
    collector, strategy, sender = ListCollector(5), Recorder(), Sender()
    engine = Engine([collector], [strategy], [sender])
    await engine.start()
    await engine.wait_idle()
    await engine.stop()
    assert strategy.seen == [0, 1, 2, 3, 4]
    assert [a.tick for a in sender.done if isinstance(a, Echo)] == [0, 10, 20, 30, 40]
    for action in sender.done:
        assert action.strategy == "Recorder"
        values = [getattr(action.stamps, stage) for stage in STAGES]
        assert all(v > 0 for v in values)
        assert values == sorted(values)
    stats = engine.stats()
    assert (stats.events_total, stats.actions_total, stats.drops_total) == (5, 5, 0)
    assert set(stats.latency) == {"queue", "decide", "simulate", "send", "total"}
    assert all(s.count == 5 and 0 <= s.p50_us <= s.p99_us <= s.max_us for s in stats.latency.values())
    assert collector.closed and sender.closed


async def test_full_event_queue_drops_oldest_and_counts_it() -> None:
    started, hold = asyncio.Event(), asyncio.Event()
    strategy = Recorder(hold=hold, started=started)
    collector = ListCollector(10, gate=started)  # the rest arrive while the strategy sits on event 0
    engine = Engine([collector], [strategy], [], event_queue_size=2)
    await engine.start()
    await engine.wait_collectors()
    (queue,) = engine.stats().queues
    assert (queue.name, queue.dropped, queue.size, queue.enqueued) == ("events->Recorder", 7, 2, 10)
    hold.set()
    await engine.wait_idle()
    await engine.stop()
    assert strategy.seen == [0, 8, 9]  # 1..7 were dropped, oldest first, and counted
    assert engine.stats().drops_total == 7


async def test_full_action_queue_blocks_then_drops_the_new_action() -> None:
    hold = asyncio.Event()
    strategy, sender = Recorder(), Sender(hold=hold)
    strategy.actions_per_event = 3
    engine = Engine([ListCollector(1)], [strategy], [sender], action_queue_size=1, put_timeout_s=0.05)
    await engine.start()
    await engine.wait_collectors()
    await engine.event_queues[0].join()  # the strategy has put (or given up on) all three actions
    hold.set()
    await engine.wait_idle()
    await engine.stop()
    actions = engine.stats().queues[1]
    assert (actions.name, actions.dropped, actions.enqueued) == ("actions->Sender", 1, 2)
    assert [a.tick for a in sender.done if isinstance(a, Echo)] == [0, 1]


async def test_failing_collector_is_restarted_and_counted() -> None:
    strategy = Recorder()
    collector = FlakyCollector(failures=2)
    engine = Engine([collector], [strategy], [], restart_backoff_s=0.001)
    await engine.start()
    await engine.wait_idle()
    await engine.stop()
    assert collector.calls == 3
    assert strategy.seen == [-1, 0, 1, 2]
    assert engine.stats().collector_restarts == {"FlakyCollector": 2}


async def test_strategy_error_is_counted_and_the_rest_goes_on() -> None:
    strategy = Recorder(fail_on=2)
    engine = Engine([ListCollector(4)], [strategy], [])
    await engine.start()
    await engine.wait_idle()
    await engine.stop()
    assert strategy.seen == [0, 1, 3]
    assert engine.stats().strategy_errors == {"Recorder": 1}


class BadConfigCollector(Collector):
    async def events(self) -> AsyncIterator[Event]:
        raise UserError("binance has no market DOGE/USDT")
        yield tick(0)  # pragma: no cover - makes this an async generator


async def test_user_error_in_a_collector_stops_the_engine() -> None:
    sender = Sender()
    engine = Engine([BadConfigCollector(), TimerCollector("clock", 0.01)], [Recorder()], [sender])
    with pytest.raises(UserError, match="DOGE/USDT"):
        await asyncio.wait_for(engine.run(), 10)
    assert sender.closed
    assert engine.pending_tasks() == []


async def test_clean_shutdown_of_an_endless_timer() -> None:
    started = asyncio.Event()
    strategy = Recorder(started=started)
    collector = TimerCollector("clock", 0.005)
    engine = Engine([collector], [strategy], [Sender()])
    runner = asyncio.create_task(engine.run())
    await asyncio.wait_for(started.wait(), 10)
    await engine.stop()
    await asyncio.wait_for(runner, 10)
    assert engine.pending_tasks() == []
    assert strategy.seen[:3] == list(range(min(3, len(strategy.seen))))
    assert engine.stats().events_total >= 1


# ---------------------------------------------------------------- routing by capability


@dataclass(kw_only=True)
class TxOrder(Action):
    capability: ClassVar[Capability] = Capability.PUBLIC_TX
    tick: int


@dataclass(kw_only=True)
class BundleOrder(Action):
    capability: ClassVar[Capability] = Capability.BUNDLE
    tick: int


@dataclass(kw_only=True)
class CexOrder(Action):
    capability: ClassVar[Capability] = Capability.CEX_ORDER
    tick: int


class Mixed(Strategy):
    """One action of every kind per tick: a public tx, a bundle, a record and a CEX order."""

    async def process_event(self, event: Event) -> Sequence[Action]:
        assert isinstance(event, Timer)
        n = event.tick
        return [TxOrder(tick=n), BundleOrder(tick=n), Echo(tick=n), CexOrder(tick=n)]


class PublicTxSender(Sender):
    capability: ClassVar[Capability] = Capability.PUBLIC_TX


class BundleSender(Sender):
    capability: ClassVar[Capability] = Capability.BUNDLE


class SecondJournal(Sender):
    """A second RECORD executor: a record goes to both."""


async def test_actions_reach_the_executors_of_their_capability_and_unmatched_ones_are_counted() -> None:
    public, bundle, journal, journal2 = PublicTxSender(), BundleSender(), Sender(), SecondJournal()
    engine = Engine([ListCollector(3)], [Mixed()], [public, bundle, journal, journal2])
    await engine.start()
    await engine.wait_idle()
    await engine.stop()
    assert [(type(a), a.tick) for a in public.done] == [(TxOrder, 0), (TxOrder, 1), (TxOrder, 2)]
    assert [(type(a), a.tick) for a in bundle.done] == [(BundleOrder, 0), (BundleOrder, 1), (BundleOrder, 2)]
    assert [(type(a), a.tick) for a in journal.done] == [(Echo, 0), (Echo, 1), (Echo, 2)]
    assert journal2.done == journal.done
    stats = engine.stats()
    # no CEX-order executor: the three CexOrders are counted by capability, not lost without a trace
    assert stats.unrouted == {"cex_order": 3} and stats.unrouted_total == 3
    assert (stats.actions_total, stats.drops_total) == (12, 0)
    assert stats.executor_errors == {"PublicTxSender": 0, "BundleSender": 0, "Sender": 0, "SecondJournal": 0}


async def test_an_engine_with_no_executors_counts_every_action_as_unrouted() -> None:
    engine = Engine([ListCollector(2)], [Mixed()], [])
    await engine.start()
    await engine.wait_idle()
    await engine.stop()
    assert engine.stats().unrouted == {"public_tx": 2, "bundle": 2, "record": 2, "cex_order": 2}


def test_actions_and_executors_must_name_their_capability() -> None:
    with pytest.raises(TypeError, match="capability"):

        @dataclass(kw_only=True)
        class Nameless(Action):
            tick: int

    class Unrouted(Executor):
        async def execute(self, action: Action) -> None:
            return None

    with pytest.raises(TypeError, match="capability"):
        Engine([], [], [Unrouted()])


def test_the_code_base_actions_and_executors_meet_by_capability() -> None:
    from defibots.actions import BackrunBundleAction, BundlePrepare, ExecutorTxAction
    from defibots.execution.bundle_executor import BundleExecutor
    from defibots.execution.public_tx import PublicTxExecutor
    from defibots.jobs.arb_watch import CexSignalJournal
    from defibots.strategies.cex_arb import CexSignal

    assert ExecutorTxAction.capability is PublicTxExecutor.capability is Capability.PUBLIC_TX
    assert BackrunBundleAction.capability is BundlePrepare.capability is Capability.BUNDLE
    assert BundleExecutor.capability is Capability.BUNDLE
    assert CexSignal.capability is CexSignalJournal.capability is Capability.RECORD


async def test_run_returns_only_after_a_stop_in_progress_closed_the_executors() -> None:
    """A job closes its journal once `run()` returns: while another caller's stop is still closing the
    executors (whose last records go to that journal), `run()` and a second `stop()` must wait."""
    release, started = asyncio.Event(), asyncio.Event()

    class SlowToClose(Sender):
        async def close(self) -> None:
            await release.wait()
            self.closed = True

    sender = SlowToClose()
    engine = Engine([TimerCollector("clock", 0.005)], [Recorder(started=started)], [sender])
    runner = asyncio.create_task(engine.run())
    await asyncio.wait_for(started.wait(), 10)
    stopping = asyncio.create_task(engine.stop())
    await asyncio.sleep(0.05)
    second = asyncio.create_task(engine.stop())
    await asyncio.sleep(0.05)
    assert not runner.done() and not second.done()
    release.set()
    await asyncio.wait_for(asyncio.gather(stopping, second, runner), 10)
    assert sender.closed
