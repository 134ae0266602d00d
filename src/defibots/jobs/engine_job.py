"""What every engine-driven job shares: start-up checks once, a bounded run, and a close that always stops
the engine and the journal, whatever ended the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

from defibots.engine import Engine, EngineStats
from defibots.journal import Journal


class EngineJob:
    """Subclasses build `engine` and `journal` in their constructor and may add `checks()`."""

    engine: Engine
    journal: Journal
    _opened = False
    _closed = False

    async def checks(self) -> None:
        """Start-up checks that need the event loop (a UserError here is one error line, before any work)."""
        return None

    async def open(self) -> None:
        if not self._opened:
            await self.checks()
            self._opened = True

    async def run(
        self, duration_s: float | None = None, on_tick: Callable[[Self], None] | None = None
    ) -> None:
        """Run until `duration_s` passes (forever if None), Ctrl-C or a fatal error; always stops cleanly."""
        try:
            await self.open()
            await self.engine.run_for(duration_s, (lambda: on_tick(self)) if on_tick else None)
        finally:
            await self.close()

    async def close(self) -> None:
        """Stop the engine (closing its collectors and executors) and the journal; safe to call twice."""
        await self.engine.stop()
        if not self._closed:
            self._closed = True
            self.journal.close()

    def stats(self) -> EngineStats:
        return self.engine.stats()
