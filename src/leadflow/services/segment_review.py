"""The sales segment review (S9, 003): submit, decide, and apply at the start of fiscal Q1.

003 "Sales Segment and Hierarchy Review Process": once a year, in fiscal Q4 (the quarter is
`segmentation.review.quarter`, the fiscal year `fiscal:`), anyone may submit an account whose
`Total Employee` count they think is wrong (`[User Input] Employee Count` + a source URL) or whose
global HQ address is wrong (country, state, zip + a source URL). LinkedIn is never an accepted source,
and a count that would not change the segment is not reviewed. Sales Ops accepts or rejects; the
results "will not be put into place or enforced until the beginning of Q1", when they update "the
accounts segment and resulting ownership".

How an accepted count becomes effective (S6 vs S9): S6 lets the admin override count only inside
the review window, which read alone would make an accepted count stop counting exactly when S9 says
it starts. So an accepted review is **not** written at decision time (nothing changes during Q4);
the `segment-review-apply` job writes it at the start of Q1 as the admin override *together with*
`employees_admin_override_from` = that first day of Q1. The segment rule (`domain.segments.
total_employees`) counts an override with such a date all year round from that day; an override
without one keeps the S6 meaning (counts only inside the review window). An HQ address review is
written as the global account's `admin_override` address, which territory always honours (S8).

Applying re-derives the hierarchy (segment, Parent Sales Segmentation, region) and every lead
matched to it, with history naming each rule, and queues `account.segment_changed` /
`account.region_changed` outbox events: ownership follows on the next routing of those records,
which consumes the events. Every write goes through the unit of work.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy import select

from leadflow.domain.records import Actor
from leadflow.domain.segments import AccountSizing, fiscal_quarter, hierarchy_segments
from leadflow.domain.territory import region_index, region_of
from leadflow.errors import InvalidInput, NotFound
from leadflow.playbook.countries import resolve_country, resolve_subdivision
from leadflow.playbook.schema import Playbook
from leadflow.services import derive
from leadflow.services.jobs import job
from leadflow.services.lifecycle import hierarchy
from leadflow.store.db import Store
from leadflow.store.models import Account, Lead, SegmentReview
from leadflow.store.uow import UnitOfWork

APPLY_JOB = "segment-review-apply"
SUBMIT_RULE = "segment-review-submit"
DECIDE_RULE = "segment-review-decide"
APPLY_RULE = "segment-review"
EMPLOYEE_COUNT = "employee_count"
HQ_ADDRESS = "hq_address"
STATUSES = ("submitted", "accepted", "rejected", "applied", "superseded")
# 003: "As a rule LinkedIn is not accepted as a valid source." (lnkd.in is LinkedIn's link shortener)
REFUSED_SOURCE_HOSTS = {"linkedin.com": "LinkedIn", "lnkd.in": "LinkedIn"}
OWNERSHIP_NOTE = "ownership follows on the next routing of the account's records (account.segment_changed)"


# --------------------------------------------------------------------------- the review window


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def fiscal_day(pb: Playbook, when: dt.datetime) -> dt.date:
    """The calendar date of `when` in the fiscal time zone."""
    return when.astimezone(ZoneInfo(pb.fiscal.timezone)).date()


@dataclass(frozen=True)
class ReviewWindow:
    """One year's segment review: the quarter it is open, and the first day of the Q1 it applies in."""

    opens: dt.date
    closes: dt.date
    applies_on: dt.date
    fiscal_year: int  # the fiscal year that starts on `applies_on`

    def holds(self, day: dt.date) -> bool:
        return self.opens <= day <= self.closes

    def __str__(self) -> str:
        return f"{self.opens.isoformat()} - {self.closes.isoformat()}"


def review_window(pb: Playbook, now: dt.datetime) -> ReviewWindow:
    """The segment review window holding `now`, or else the next one (S9)."""
    current = fiscal_quarter(now, pb.fiscal)
    year_start = _add_months(current.start, -3 * (current.quarter - 1))
    quarter = pb.segmentation.review.quarter
    if current.quarter > quarter:
        year_start = _add_months(year_start, 12)
    opens = _add_months(year_start, 3 * (quarter - 1))
    closes = _add_months(year_start, 3 * quarter) - dt.timedelta(days=1)
    applies_on = _add_months(year_start, 12)
    return ReviewWindow(opens, closes, applies_on, fiscal_quarter(applies_on, pb.fiscal).year)


# --------------------------------------------------------------------------- checks


def check_source(source: str | None, field: str = "source") -> str:
    """A source must be a web address (http/https) and not LinkedIn (003)."""
    text = (source or "").strip()
    if not text:
        raise InvalidInput("a source URL is required: where the figure or address was found", field)
    parts = urlsplit(text if "://" in text else f"https://{text}")
    host = (parts.hostname or "").lower().rstrip(".")
    if parts.scheme not in ("http", "https") or "." not in host:
        raise InvalidInput(f"'{text}' is not a web address (http or https)", field)
    for refused, name in REFUSED_SOURCE_HOSTS.items():
        if host == refused or host.endswith(f".{refused}"):
            raise InvalidInput(
                f"{name} is not accepted as a source (003); give a financial filing, a newspaper article "
                "or a report from the company",
                field,
            )
    return text if "://" in text else f"https://{text}"


def _check_window(pb: Playbook, now: dt.datetime) -> ReviewWindow:
    window = review_window(pb, now)
    day = fiscal_day(pb, now)
    if not window.holds(day):
        raise InvalidInput(
            f"segment reviews are open only in fiscal Q{pb.segmentation.review.quarter}: the next window is "
            f"{window} ({pb.fiscal.timezone}); now is {day.isoformat()}, in {fiscal_quarter(now, pb.fiscal)}",
            "submitted_at",
        )
    return window


def _check_segment_changes(uow: UnitOfWork, pb: Playbook, account: Account, count: int,
                           window: ReviewWindow) -> tuple[str, str]:
    """Refuse a count that would leave the hierarchy's segment as it is at the start of Q1 (003)."""
    scheme = pb.segmentation.active
    if scheme.measure != "total_employees":
        raise InvalidInput(
            f"the segment scheme '{pb.segmentation.scheme}' measures Potential EE Users, not employees: "
            "an employee count cannot change a segment, so it is not reviewed",
            "employee_count",
        )
    family = [AccountSizing.of(a) for a in hierarchy(uow, account)]
    at = window.applies_on
    before = hierarchy_segments(family, pb, at)[account.id]
    proposed = [
        replace(s, employees_admin_override=count, employees_admin_override_from=at) if s.id == account.id else s
        for s in family
    ]
    after = hierarchy_segments(proposed, pb, at)[account.id]
    if after.segment == before.segment:
        raise InvalidInput(
            f"{count:,} employees would leave {account.name} in {before.segment} ({before.why}); "
            "reviews that do not result in a change of segment are not reviewed (003)",
            "employee_count",
        )
    return before.segment, after.segment


def _check_address(pb: Playbook, country: str, state: str | None) -> tuple[str, str | None, str | None]:
    """The master-list country name, the state as given, and the region it puts the HQ in."""
    found = resolve_country(country, pb.countries.aliases)
    if found is None:
        raise InvalidInput(f"'{country}' is not a known country", "hq_country")
    if state and state.strip() and resolve_subdivision(found, state) is None:
        raise InvalidInput(f"'{state}' is not a state or province of {found.name}", "hq_state")
    region = region_of(pb, found.name, state)
    if region.region is None and found.alpha_2 in _split_countries(pb) and not (state and state.strip()):
        raise InvalidInput(f"{found.name} is divided between regions by state: give the HQ's state", "hq_state")
    return found.name, state.strip() if state and state.strip() else None, region.region


def _split_countries(pb: Playbook) -> set[str]:
    """Countries the playbook divides between regions by state (the United States, ...)."""
    return set(region_index(pb).by_subdivision)


# --------------------------------------------------------------------------- submit and decide


def submit_review(
    uow: UnitOfWork,
    pb: Playbook,
    account: Account,
    *,
    employee_count: int | None = None,
    hq_country: str | None = None,
    hq_state: str | None = None,
    hq_postal_code: str | None = None,
    source: str | None,
    actor: Actor,
    now: dt.datetime,
) -> SegmentReview:
    """Submit an account to this year's segment review: an employee count or a global HQ address (S9).

    Refused (nothing changes): outside the review quarter, without a source or with a LinkedIn one,
    a count that would not change the segment, an unknown country or state. An earlier submitted
    (undecided) review of the same account and kind this year is superseded.
    """
    country = (hq_country or "").strip() or None
    if employee_count is None and country is None:
        if hq_state or hq_postal_code:
            raise InvalidInput("an HQ address review needs the HQ country", "hq_country")
        raise InvalidInput("give an employee count or an HQ address (country, state) to review", "employee_count")
    if employee_count is not None and country is not None:
        raise InvalidInput("one review is either an employee count or an HQ address, not both", "employee_count")
    window = _check_window(pb, now)
    url = check_source(source)
    kind = EMPLOYEE_COUNT if employee_count is not None else HQ_ADDRESS
    details: dict[str, Any] = {}
    if employee_count is not None:
        if isinstance(employee_count, bool) or not isinstance(employee_count, int) or employee_count <= 0:
            raise InvalidInput(f"the employee count must be a positive whole number (got {employee_count!r})",
                               "employee_count")
        old, new = _check_segment_changes(uow, pb, account, employee_count, window)
        details = {"employee_count": employee_count, "segment_from": old, "segment_to": new}
    else:
        assert country is not None
        country, hq_state, region = _check_address(pb, country, hq_state)
        details = {"hq_country": country, "hq_state": hq_state, "region": region}

    what = _describe(kind, employee_count, country, hq_state, hq_postal_code)
    with uow.changing(actor=actor, now=now, rule=SUBMIT_RULE,
                      why=f"submitted to the FY{window.fiscal_year} segment review: {what} (source {url})"):
        for earlier in _open_reviews(uow, account.id, kind, window.fiscal_year, ("submitted",)):
            earlier.status = "superseded"
            earlier.result = {"superseded_by_submission_at": now.isoformat()}
        if kind == EMPLOYEE_COUNT:  # 003: the [User Input] Employee Count / Employee Source fields of the account
            account.employees_user_input = employee_count
            account.employees_user_input_source_url = url
        review = SegmentReview(
            account_id=account.id, kind=kind, employee_count=employee_count, hq_country=country,
            hq_state=hq_state, hq_postal_code=(hq_postal_code or "").strip() or None, source=url,
            submitted_by=str(actor), submitted_at=now, status="submitted", fiscal_year=window.fiscal_year,
            applies_on=window.applies_on, result={"checked": details},
        )
        uow.add(review)
        uow.session.flush()
        uow.emit("segment_review.submitted", entity=account,
                 payload={"review_id": review.id, "account_id": account.id, "kind": kind, "what": what,
                          "source": url, "window": str(window), "applies_on": window.applies_on})
    return review


def decide_review(
    uow: UnitOfWork, review: SegmentReview, accept: bool, reason: str | None, actor: Actor, now: dt.datetime
) -> SegmentReview:
    """Sales Ops accepts or rejects a submitted review; a rejection needs a reason.

    Accepting changes nothing yet: the `segment-review-apply` job applies it at the start of the Q1 it
    belongs to (at once on its next run when decided after that day). An earlier accepted, not yet
    applied review of the same account and kind is superseded by the newer decision.
    """
    if review.status != "submitted":
        raise InvalidInput(f"review {review.id} is {review.status}; only a submitted review can be decided", "status")
    text = (reason or "").strip() or None
    if not accept and text is None:
        raise InvalidInput("a rejection needs a reason", "reason")
    if now < review.submitted_at:
        raise InvalidInput(f"a review cannot be decided before it was submitted ({review.submitted_at.isoformat()})",
                           "decided_at")
    verdict = "accepted" if accept else "rejected"
    account = uow.get(Account, review.account_id, "account_id")
    with uow.changing(actor=actor, now=now, rule=DECIDE_RULE, why=f"review {review.id} {verdict}: {text or ''}"):
        if accept:
            for earlier in _open_reviews(uow, review.account_id, review.kind, review.fiscal_year, ("accepted",)):
                if earlier.id != review.id:
                    earlier.status = "superseded"
                    earlier.result = {**(earlier.result or {}), "superseded_by": review.id}
        review.status = verdict
        review.decided_by = str(actor)
        review.decided_at = now
        review.decision_reason = text
        uow.emit("segment_review.decided", entity=account,
                 payload={"review_id": review.id, "decision": verdict, "reason": text,
                          "submitted_by": review.submitted_by, "applies_on": review.applies_on if accept else None})
    return review


def get_review(uow: UnitOfWork, review_id: str) -> SegmentReview:
    found = uow.session.get(SegmentReview, review_id)
    if found is None:
        raise NotFound(f"no segment review with id '{review_id}'", "review_id")
    return found


def list_reviews(uow: UnitOfWork, status: str | None = None) -> list[SegmentReview]:
    """Reviews, newest first; only those in `status` when given."""
    stmt = select(SegmentReview).order_by(SegmentReview.submitted_at.desc(), SegmentReview.id)
    if status is not None:
        if status not in STATUSES:
            raise InvalidInput(f"unknown status '{status}'; statuses: {', '.join(STATUSES)}", "status")
        stmt = stmt.where(SegmentReview.status == status)
    return list(uow.session.scalars(stmt))


def _open_reviews(uow: UnitOfWork, account_id: str, kind: str, fiscal_year: int,
                  statuses: tuple[str, ...]) -> list[SegmentReview]:
    return list(uow.session.scalars(select(SegmentReview).where(
        SegmentReview.account_id == account_id, SegmentReview.kind == kind,
        SegmentReview.fiscal_year == fiscal_year, SegmentReview.status.in_(statuses))))


def _describe(kind: str, count: int | None, country: str | None, state: str | None, postal: str | None) -> str:
    if kind == EMPLOYEE_COUNT:
        return f"Total Employee count {count:,}"
    return "HQ address " + ", ".join(p for p in (postal, state, country) if p)


def describe(review: SegmentReview) -> str:
    return _describe(review.kind, review.employee_count, review.hq_country, review.hq_state, review.hq_postal_code)


# --------------------------------------------------------------------------- apply at the start of Q1


@job(APPLY_JOB)
def apply_segment_reviews(store: Store, pb: Playbook, now: dt.datetime, run_id: int) -> dict[str, Any]:
    """Apply every accepted review whose Q1 has begun (fiscal time zone); each one once, with history.

    Runs daily; a day with nothing due does nothing. Each review is applied and committed on its own, so
    a run that stops half-way leaves the rest accepted for the next run (W8).
    """
    today = fiscal_day(pb, now)
    with store.uow() as uow:
        due = list(uow.session.scalars(
            select(SegmentReview.id)
            .where(SegmentReview.status == "accepted", SegmentReview.applies_on <= today)
            .order_by(SegmentReview.decided_at, SegmentReview.id)
        ))
    summary: dict[str, Any] = {"applied": [], "segment_changed": [], "region_changed": [], "leads_refreshed": 0}
    for review_id in due:
        with store.uow() as uow:
            review = uow.session.get(SegmentReview, review_id)
            if review is None or review.status != "accepted":  # applied by a concurrent run
                continue
            outcome = apply_review(uow, pb, review, now)
            uow.commit()
        summary["applied"].append(review_id)
        summary["segment_changed"] += outcome["segment_changed"]
        summary["region_changed"] += outcome["region_changed"]
        summary["leads_refreshed"] += outcome["leads_refreshed"]
    summary["ownership"] = OWNERSHIP_NOTE if summary["segment_changed"] or summary["region_changed"] else None
    return summary


def apply_review(uow: UnitOfWork, pb: Playbook, review: SegmentReview, now: dt.datetime) -> dict[str, Any]:
    """Write one accepted review into its account and re-derive the hierarchy and its leads (S9)."""
    if review.status != "accepted":
        raise InvalidInput(f"review {review.id} is {review.status}; only an accepted review is applied", "status")
    account = uow.get(Account, review.account_id, "account_id")
    family = hierarchy(uow, account)
    before = {a.id: (a.segment, a.region) for a in family}
    decided = review.decided_at.date().isoformat() if review.decided_at else "?"
    why = (f"segment review {review.id} ({describe(review)}, source {review.source}) accepted by "
           f"{review.decided_by} on {decided}; in force from the start of FY{review.fiscal_year} Q1 "
           f"({review.applies_on.isoformat()}); {OWNERSHIP_NOTE}")
    with uow.changing(actor=Actor.system(APPLY_JOB), now=now, rule=APPLY_RULE, why=why):
        if review.kind == EMPLOYEE_COUNT:
            account.employees_admin_override = review.employee_count
            account.employees_admin_override_from = review.applies_on
            target = account
        else:  # 003: the fields name the *Global Account* HQ's address
            target = family[0]
            address = {"country": review.hq_country, "state": review.hq_state, "postal_code": review.hq_postal_code}
            target.addresses = {**(target.addresses or {}),
                                "admin_override": {k: v for k, v in address.items() if v}}
        family = derive.refresh_hierarchy(uow, pb, account, now)
        segment_changed: list[str] = []
        region_changed: list[str] = []
        for a in family:
            old_segment, old_region = before.get(a.id, (None, None))
            common = {"account_id": a.id, "name": a.name, "review_id": review.id, "fiscal_year": review.fiscal_year,
                      "ownership": OWNERSHIP_NOTE}
            if a.segment != old_segment:
                segment_changed.append(a.id)
                uow.emit("account.segment_changed", entity=a,
                         payload={**common, "old_segment": old_segment, "new_segment": a.segment},
                         dedupe_key=f"account.segment_changed:{a.id}:{review.id}")
            if a.region != old_region:
                region_changed.append(a.id)
                uow.emit("account.region_changed", entity=a,
                         payload={**common, "old_region": old_region, "new_region": a.region},
                         dedupe_key=f"account.region_changed:{a.id}:{review.id}")
        leads = list(uow.session.scalars(
            select(Lead).where(Lead.matched_account_id.in_([a.id for a in family]), Lead.merged_into_id.is_(None))
            .order_by(Lead.id)
        ))
        for lead in leads:
            derive.refresh_lead(uow, pb, lead, now)
        review.status = "applied"
        review.applied_at = now
        review.result = {**(review.result or {}), "account": target.id,
                         "segment_changed": segment_changed, "region_changed": region_changed,
                         "segments": {a.id: a.segment for a in family}, "regions": {a.id: a.region for a in family},
                         "leads_refreshed": len(leads), "ownership": OWNERSHIP_NOTE}
    return {"segment_changed": segment_changed, "region_changed": region_changed, "leads_refreshed": len(leads)}
