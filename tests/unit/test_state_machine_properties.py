"""Property tests of the pure state machine: every outcome is a valid state or a clear refusal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from leadflow.domain.lifecycle import plan_transition
from leadflow.errors import LeadflowError
from leadflow.playbook.load import cached_playbook

PB = cached_playbook(None)
NINE = PB.status_names()
ALL_REASONS = sorted(PB.all_reasons())


@given(
    current=st.sampled_from(NINE),
    to=st.one_of(st.sampled_from(NINE), st.text(max_size=12)),
    reason=st.one_of(st.none(), st.sampled_from(ALL_REASONS), st.text(max_size=12)),
)
def test_L5_a_plan_is_always_valid_or_a_refusal_naming_its_field(current: str, to: str, reason: str | None) -> None:
    try:
        plan = plan_transition(PB, current=current, to=to, reason=reason)
    except LeadflowError as refusal:
        assert refusal.field in {"to", "reason"}
        assert refusal.message
        return
    assert plan.to_status in NINE
    assert plan.to_status in PB.allowed_targets(current)
    target = PB.status(plan.to_status)
    assert target is not None
    if target.needs_reason:
        assert plan.reason in PB.reason_names(plan.to_status)
    if target.queue and target.hand_to_queue == "always":
        assert plan.hand_to is not None and plan.hand_to.id == target.queue


@given(st.sampled_from(NINE))
def test_L5_every_status_is_reachable_from_raw(status: str) -> None:
    seen, frontier = {"Raw"}, ["Raw"]
    while frontier:
        nxt = [t for s in frontier for t in PB.allowed_targets(s) if t not in seen]
        seen.update(nxt)
        frontier = nxt
    assert status in seen
