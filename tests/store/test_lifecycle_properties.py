"""Property tests (hypothesis): no sequence of transition attempts breaks the lifecycle.

Whatever is attempted, in whatever order, a lead stays in one of the nine statuses, never
holds a status that needs a reason without a valid one, and its history replays exactly to
its stored state (L1, L3, L5, D5), on both stores.
"""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import a_lead, save
from leadflow.domain.records import Actor
from leadflow.errors import LeadflowError
from leadflow.playbook.load import cached_playbook
from leadflow.services.lifecycle import add_bad_data_reason, transition
from leadflow.store.db import Store
from leadflow.store.models import Lead
from leadflow.store.uow import replay, snapshot

PB = cached_playbook(None)
NINE = set(PB.status_names())
TARGETS = [*PB.status_names(), "Hot", "mql", "Open"]
REASONS = [None, "", "Competitor", "No response", "Student", "Bad Data", "Too pricey", "competitior"]
BAD_DATA = ["Bad phone number", "Bounced email", "Invalid email", "Spam", "Wrong"]

attempt = st.one_of(
    st.tuples(st.just("move"), st.sampled_from(TARGETS), st.sampled_from(REASONS)),
    st.tuples(st.just("bad"), st.sampled_from(BAD_DATA), st.none()),
)
_ids = itertools.count()


def _check(lead: Lead, rows: list) -> None:  # type: ignore[type-arg]
    assert lead.status in NINE
    status = PB.status(lead.status)
    assert status is not None
    if status.needs_reason:
        assert lead.status_reason in PB.reason_names(lead.status)
    else:
        assert lead.status_reason is None
    assert replay(rows) == snapshot(lead)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(attempts=st.lists(attempt, max_size=12))
def test_L5_no_sequence_of_attempts_breaks_the_lifecycle(
    store: Store, attempts: list[tuple[str, str, str | None]]
) -> None:
    now = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    lead_id = f"p{next(_ids)}"
    with store.uow() as uow:
        save(uow, now, a_lead(id=lead_id))
    for step, (kind, value, reason) in enumerate(attempts):
        at = now + dt.timedelta(minutes=step + 1)
        with store.uow() as uow:
            lead = uow.get(Lead, lead_id)
            try:
                if kind == "move":
                    transition(uow, PB, lead, value, reason, Actor.user("ana"), at)
                else:
                    add_bad_data_reason(uow, PB, lead, value, Actor.user("ana"), at)
                uow.commit()
            except LeadflowError:
                uow.rollback()
    with store.uow() as uow:
        lead = uow.get(Lead, lead_id)
        _check(lead, uow.history("lead", lead_id))
