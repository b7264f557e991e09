"""Group commit for the live engine's SQLite Store: the changes of many webhooks go into one
transaction, committed when the event loop has a moment, and no webhook is acknowledged before the
change that records it is committed.

The Store (``rehearse.sync.sqlite_store``, opened with a large `commit_every`) only writes; this
adapter, on the asyncio side, commits it:

- `flushed()` is what the webhook endpoint awaits after the engine took a delivery and before it
  answers 2xx. It resolves True once everything written so far is committed (at once when nothing
  is pending), False when the engine's process state was dropped meanwhile (a crash: the Store was
  reopened and the uncommitted changes rolled back, so the delivery must not be acknowledged).
- A waiter schedules a commit `ack_delay_s` later, so the deliveries that arrive within that time
  share it; `run()` commits every `interval_s` what the workers changed without a waiter (postings
  sent, posted), which a crash may lose without harm: the restart posts them again and idempotent
  posting finds them in the ERP.

Nothing is committed while the engine is down (`engine.up` False): a dead process commits nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

ACK_DELAY_S = 0.0  # 0: the commit runs on the next turn of the event loop, after the deliveries of this one
INTERVAL_S = 0.01  # how often what changed without a waiter is committed
CHANGES_MAX = 2000  # the Store commits on its own past this many changes (its `commit_every`)


class GroupCommit:
    """Commits `engine.store` (a group-commit `SqliteStore`) for the webhook endpoint and the workers."""

    def __init__(self, engine: Any, *, ack_delay_s: float = ACK_DELAY_S, interval_s: float = INTERVAL_S) -> None:
        self.engine = engine  # read each time: a restart replaces `engine.store`
        self.ack_delay_s = ack_delay_s
        self.interval_s = interval_s
        self._waiters: list[tuple[Any, asyncio.Future]] = []
        self._timer: asyncio.TimerHandle | None = None
        self.commits_for_acks = 0

    async def flushed(self) -> bool:
        """True once every change written so far is committed; False if it was lost to a crash."""
        store = self.engine.store
        if not store.pending:
            return True
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiters.append((store, future))
        if self._timer is None:
            self._timer = loop.call_later(self.ack_delay_s, self._flush)
        return await future

    def _flush(self) -> None:
        self._timer = None
        engine = self.engine
        store = engine.store
        if engine.up and store.pending:
            store.commit()
            self.commits_for_acks += 1
        waiting = []
        for owner, future in self._waiters:
            if future.done():
                continue  # its request was cancelled (the client went away)
            if owner is not store:
                future.set_result(False)  # written by a process that has since died: rolled back
            elif not owner.pending:
                future.set_result(True)
            else:
                waiting.append((owner, future))  # the engine is down: wait for its restart
        self._waiters = waiting
        if waiting:
            self._timer = asyncio.get_running_loop().call_later(self.interval_s, self._flush)

    async def run(self) -> None:
        """Commit what the workers changed every `interval_s`, until cancelled (then once more)."""
        try:
            while True:
                await asyncio.sleep(self.interval_s)
                engine = self.engine
                if engine.up and engine.store.pending:
                    engine.store.commit()
        finally:
            self._flush()  # commits what is pending and answers the waiters it can
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            for _, future in self._waiters:
                if not future.done():
                    future.set_result(False)
            self._waiters = []
