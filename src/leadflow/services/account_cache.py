"""One account index per database and playbook, kept current instead of rebuilt per request.

Building the index reads every account (~40 µs each: 4 s at 100,000 accounts), which no single
intake can afford. The unit of work writes a row to `account_changes` for every account created,
changed or deleted (store/uow.py), in the same transaction; before each use the cache reads the
rows after the last one it applied and re-indexes just those accounts (`AccountIndex.apply_changes`).

It reads on its own connection, so it only ever sees committed accounts: a transaction's own new
accounts are the caller's business (`IntakeEnv` falls back to a private index after creating one).
On PostgreSQL sequence numbers are taken before commit, so a change with a lower number can become
visible after a higher one: the cache re-reads the last `_RECHECK` seconds' rows each time (applying
an account twice is harmless), which closes that window.

All access goes through one lock: the index is shared by the server's worker threads.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, bindparam, func, select

from leadflow.domain.matching import AccountIndex, AccountRow
from leadflow.playbook.schema import Playbook
from leadflow.store.models import Account, AccountChange

_RECHECK = 60.0  # seconds during which a committed change may still appear below the last seen number
_CHANGES_AFTER = select(AccountChange.seq, AccountChange.account_id).where(AccountChange.seq > bindparam("horizon"))
_COLUMNS = (Account.id, Account.name, Account.website, Account.domain, Account.parent_id, Account.country)


def _row(r: Any) -> AccountRow:
    return AccountRow(id=r.id, name=r.name, website=r.website or r.domain, parent_id=r.parent_id, country=r.country)


def build_index(rows: Any, pb: Playbook) -> AccountIndex:
    """An index of `rows` (id, name, website, domain, parent_id, country) under the playbook's settings."""
    return AccountIndex(
        (_row(r) for r in rows),
        country_aliases=pb.countries.aliases,
        free_mail_extra=pb.intake.free_mail_domains_extra,
    )


def select_accounts() -> Any:
    return select(*_COLUMNS)


class SharedIndex:
    """An account index that follows the database's committed accounts."""

    def __init__(self, engine: Engine, pb: Playbook, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._pb = pb
        self._clock = clock
        self._lock = threading.RLock()
        self._index: AccountIndex | None = None
        self._base = 0  # the highest change number when the index was built
        self._seen = 0  # the highest change number applied
        self._done: set[int] = set()  # numbers applied within the re-check window
        self._checked = 0.0  # when the change log was last checked for having been emptied
        self._marks: list[tuple[float, int]] = []  # (when, highest number seen then), oldest first
        self.rebuilds = 0
        self.applied = 0

    def _horizon(self) -> int:
        """Re-read changes above the highest number seen at least `_RECHECK` seconds ago."""
        cutoff = self._clock() - _RECHECK
        while len(self._marks) > 1 and self._marks[1][0] <= cutoff:
            self._marks.pop(0)
        return self._marks[0][1] if self._marks and self._marks[0][0] <= cutoff else self._base

    def _refresh(self) -> None:
        with self._engine.connect() as conn:
            self._refresh_on(conn)

    def _newest(self, conn: Any) -> int:
        return int(conn.scalar(select(func.coalesce(func.max(AccountChange.seq), 0))) or 0)

    def _refresh_on(self, conn: Any) -> None:
        if self._index is None:
            # the change number first: a change committed while the accounts are read is applied again
            self._base = self._seen = self._newest(conn)
            self._index = build_index(conn.execute(select_accounts()), self._pb)
            self._marks = [(self._clock(), self._seen)]
            self._checked = self._clock()
            self._done.clear()
            self.rebuilds += 1
            return
        now = self._clock()
        if now - self._checked >= 1.0:  # once a second: was the change log emptied (a restore, a truncate)?
            self._checked = now
            if self._newest(conn) < self._seen:
                self._index = None
                self._refresh_on(conn)
                return
        horizon = self._horizon()
        changes = [c for c in conn.execute(_CHANGES_AFTER, {"horizon": horizon}) if c.seq not in self._done]
        self._done = {n for n in self._done if n > horizon} | {c.seq for c in changes}
        if changes:
            ids = {c.account_id for c in changes}
            rows = {r.id: r for r in conn.execute(select_accounts().where(Account.id.in_(ids)))}
            self.applied += self._index.apply_changes(
                (_row(r) for r in rows.values()), removed=[i for i in ids if i not in rows]
            )
            self._seen = max(self._seen, max(c.seq for c in changes))
        if self._marks[-1][1] != self._seen or now - self._marks[-1][0] >= 1.0:
            self._marks.append((now, self._seen))

    @contextmanager
    def current(self) -> Iterator[AccountIndex]:
        """The index, brought up to date, held under the lock for the caller's lookups."""
        with self._lock:
            self._refresh()
            assert self._index is not None
            yield self._index


_CACHES: weakref.WeakKeyDictionary[Engine, dict[tuple[Any, ...], SharedIndex]] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _settings_key(pb: Playbook) -> tuple[Any, ...]:
    return (tuple(sorted(pb.countries.aliases.items())), tuple(pb.intake.free_mail_domains_extra))


def shared_index(engine: Engine, pb: Playbook) -> SharedIndex:
    """The shared index of this database under this playbook's matching settings."""
    key = _settings_key(pb)
    with _CACHES_LOCK:
        per_engine = _CACHES.setdefault(engine, {})
        found = per_engine.get(key)
        if found is None:
            found = per_engine[key] = SharedIndex(engine, pb)
        return found


__all__ = ["SharedIndex", "build_index", "select_accounts", "shared_index"]
