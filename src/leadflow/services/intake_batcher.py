"""Group commit for concurrent intakes: the people waiting to be taken in go through one batch and one commit.

A single intake is ~30 SQL statements and several ORM flushes, and on SQLite every writer waits for the one
before it anyway. So while one group is being written, the intakes that arrive queue here; the next group
takes all of them (up to `max_batch`) through the batch intake (services/batch_intake.py, the import's path:
the same rules and the same stored rows, checked by tests/store/test_import_batch.py) in one transaction, and
each caller gets its own result once that transaction is committed: nothing is answered before it is stored.
An intake alone is a group of one.

Within a group, rows are taken in arrival order and each sees the ones before it. A row the batch cannot
take (another channel handling, a replayed delivery, whatever `Fallback` names) goes through the per-row
intake in its own savepoint, in order; a refused row (bad input, blocked domain) gets its own error and
changes nothing. If the group's transaction fails as a whole, every intake of it is tried again on its own,
so one row can never fail the others.

An intake over HTTP brings its API token, not a checked user: the group checks every token it holds with one
query in its own transaction (unknown, revoked or inactive: 401; a role without `intake`: 403), so no request
pays a thread hop and a read of its own to authenticate, and a token revoked before the group's transaction
takes no one in.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError
from leadflow.playbook.schema import Playbook
from leadflow.services.auth import Unauthorized, users_for_tokens
from leadflow.services.intake import IntakeEnv, IntakeResult, Normalised, delivery_key, intake, normalise
from leadflow.services.intake_models import LeadIn
from leadflow.store.db import Store
from leadflow.store.uow import UnitOfWork


@dataclass
class _Job:
    """One queued intake: by `actor`, or by the user of API `token` once it is checked for `permission`."""

    data: LeadIn
    actor: Actor | None
    token: str | None = None
    permission: str = "intake"
    future: Future[IntakeResult] = field(default_factory=Future)


def _authenticate(uow: UnitOfWork, pb: Playbook, jobs: list[_Job]) -> list[LeadflowError | None]:
    """Check the group's API tokens in its own transaction (one query): each job's error, or None once its
    actor is the token's user. A token revoked before the group's transaction can no longer take anyone in."""
    found = users_for_tokens(uow, [job.token for job in jobs if job.token is not None])
    refused: list[LeadflowError | None] = [None] * len(jobs)
    for i, job in enumerate(jobs):
        if job.token is None:
            continue
        user = found[job.token]
        if isinstance(user, Unauthorized):
            refused[i] = user
            continue
        try:
            user.principal(pb).require(job.permission)
        except LeadflowError as exc:
            refused[i] = exc
            continue
        job.actor = Actor.user(user.id)
    return refused


class IntakeBatcher:
    """One writer thread per store that takes the queued intakes in groups (see the module's docstring)."""

    def __init__(self, store: Store, playbook_of: Callable[[UnitOfWork], Playbook],
                 clock: Callable[[], dt.datetime], max_batch: int = 64, idle_seconds: float = 5.0) -> None:
        self.store = store
        self.playbook_of = playbook_of
        self.clock = clock
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.groups = 0  # groups written, and intakes in them (for tests and the bench)
        self.taken = 0

    def submit(self, data: LeadIn, actor: Actor | None = None, *, token: str | None = None,
               permission: str = "intake") -> Future[IntakeResult]:
        """Queue one intake, by `actor` or by the user of API `token` (checked in the group's transaction, 401
        or 403 as the API's own check); the future holds its result (or its error) once its group is
        committed."""
        if (actor is None) == (token is None):
            raise ValueError("an intake is submitted with an actor or with an API token, not both")
        job = _Job(data, actor, token, permission)
        self._queue.put(job)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="leadflow-intake", daemon=True)
                self._thread.start()
        return job.future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:  # exit only if nothing arrived meanwhile (submit starts a new thread then)
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            jobs = [first]
            while len(jobs) < self.max_batch:
                try:
                    jobs.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._group(jobs)

    # ---- one group

    def _group(self, jobs: list[_Job]) -> None:
        try:
            results = self._take_all(jobs)
        except Exception:  # the group's transaction failed: each on its own, so one row never fails the rest
            for job in jobs:
                self._alone(job)
            return
        self.groups += 1
        self.taken += len(jobs)
        for job, outcome in zip(jobs, results, strict=True):
            if isinstance(outcome, BaseException):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)

    def _alone(self, job: _Job) -> None:
        try:
            with self.store.uow() as uow:
                self.store.writing(uow)
                pb = self.playbook_of(uow)
                refused = _authenticate(uow, pb, [job])[0]
                if refused is not None:
                    raise refused
                assert job.actor is not None
                result = intake(uow, IntakeEnv(uow, pb), job.data, job.actor, self.clock())
                uow.commit()
        except BaseException as exc:
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    def _take_all(self, jobs: list[_Job]) -> list[IntakeResult | BaseException]:
        from leadflow.services.batch_intake import PER_ROW_HANDLINGS, Batch, Fallback, single_in_savepoint

        store = self.store
        with store.uow() as uow:
            store.writing(uow)
            pb = self.playbook_of(uow)
            env = IntakeEnv(uow, pb)
            now = self.clock()
            # a result, an error, or a batch-taken row's _Pending; a refused token's error from the start
            out: list[Any] = _authenticate(uow, pb, jobs)
            todo: list[tuple[int, LeadIn, Normalised]] = []
            for i, job in enumerate(jobs):
                if out[i] is not None:
                    continue
                channel = pb.channel(job.data.channel)
                key = delivery_key(job.data.channel, job.data)
                if channel is None or channel.handling in PER_ROW_HANDLINGS or key is not None:
                    continue  # per row, below (a delivery id: the per-row intake answers a replay)
                try:
                    todo.append((i, job.data, normalise(pb, job.data)))
                except LeadflowError as exc:  # as the per-row intake refuses it
                    out[i] = exc
            actor = next((job.actor for job in jobs if job.actor is not None), None)
            batch = Batch(uow, env, actor or Actor.system("intake"), now, None)
            batch.prefetch(todo)
            norms = {i: n for i, _, n in todo}  # the rows the batch may take
            for i, job in enumerate(jobs):
                if out[i] is not None:
                    continue
                data = job.data
                broad = True
                if i in norms and job.actor == batch.actor:
                    channel = pb.channel(data.channel)
                    assert channel is not None
                    try:
                        taken = batch.take(i, channel, data, norms[i], None)
                        out[i] = _result_of(batch, i, taken.outcome, taken.subject_type, taken.subject_id)
                        continue
                    except Fallback as exc:
                        broad = exc.broad
                    except LeadflowError as exc:
                        out[i] = exc
                        continue
                batch.write()
                assert job.actor is not None
                try:
                    result = single_in_savepoint(uow, env, data, job.actor, now)
                except (ValidationError, LeadflowError) as exc:
                    out[i] = exc
                    continue
                out[i] = result
                norm = norms.get(i)
                batch.after_single(result.subject_type, result.subject_id, norm.email if norm else None, broad)
            batch.write()
            uow.commit()
        return [_finished(o) for o in out]


def _finished(outcome: Any) -> IntakeResult | BaseException:
    assert outcome is not None
    if isinstance(outcome, _Pending):
        return outcome.result()
    assert isinstance(outcome, IntakeResult | BaseException)
    return outcome


class _Pending:
    """A batch-taken row's result: its steps are final only once the batch is written (routing decision
    ids are given at write time), so it is read then."""

    def __init__(self, row: dict[str, Any], subject_type: str | None, subject_id: str | None,
                 outcome: str, match: Any) -> None:
        self.row = row
        self.steps: list[dict[str, Any]] = row["steps"]  # the same list the write fills in
        self.subject_type = subject_type
        self.subject_id = subject_id
        self.outcome = outcome
        self.match = match

    def result(self) -> IntakeResult:
        step = {s["step"]: s for s in self.steps}
        found = (step.get("same_email") or {}).get("found")
        duplicate_of: dict[str, str] | None
        if found:
            kind, _, ident = str(found).partition(":")
            duplicate_of = {"type": kind, "id": ident}
        else:
            duplicate_of = (step.get("duplicates") or {}).get("duplicate_of")
        return IntakeResult(
            intake_id=self.row["id"], outcome=self.outcome, subject_type=self.subject_type,
            subject_id=self.subject_id, steps=self.steps, spam=bool((step.get("spam") or {}).get("spam")),
            duplicate_of=duplicate_of, match=self.match,
        )


def _result_of(batch: Any, number: int, outcome: str, subject_type: str | None,
               subject_id: str | None) -> Any:
    row = batch.intakes[-1]  # take() appends the row's intake last
    return _Pending(row, subject_type, subject_id, outcome, batch.matches.get(number))
