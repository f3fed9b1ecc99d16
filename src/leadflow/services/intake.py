"""The one intake pipeline every channel uses: normalise, spam, duplicates, account, M4.

`intake(uow, env, payload, actor, now)` takes a validated `LeadIn`, decides everything it can
before writing (so a refusal changes nothing), then writes the lead (or contact, account,
subscription) through the unit of work, recording each step's outcome on an `Intake` row that
`leadflow lead show` prints. After the derived figures (score, segment, region) and M4, a live lead
that asked for routing is routed (`services.routing`); spam is never routed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, String, and_, func, literal, or_, select

from leadflow.domain import lifecycle
from leadflow.domain.matching import AccountIndex, Decision, LeadRow, Match
from leadflow.domain.normalise import (
    email_domain,
    is_free_mail,
    normalise_country,
    normalise_email,
    normalise_phone,
    website_domain,
)
from leadflow.domain.records import Actor, Owner
from leadflow.errors import InvalidInput, LeadflowError
from leadflow.playbook.countries import resolve_subdivision
from leadflow.playbook.schema import ChannelDef, Playbook
from leadflow.services import derive
from leadflow.services.account_cache import build_index, select_accounts, shared_index
from leadflow.services.intake_models import LeadIn
from leadflow.services.lifecycle import set_owner
from leadflow.services.routing import RoutingResult, route_lead, wants_routing
from leadflow.store.models import (
    Account,
    Activity,
    BlockedDomain,
    Campaign,
    CampaignMember,
    Contact,
    Intake,
    Lead,
    Opportunity,
    Subscription,
    User,
)
from leadflow.store.names import name_filter_clause
from leadflow.store.uow import UnitOfWork

Person = Lead | Contact


class Refused(LeadflowError):
    """The intake refuses this person (blocked domain, missing fields); nothing is written."""


@dataclass
class Normalised:
    """The payload's person fields after I4/I5 normalisation."""

    email: str | None
    domain: str | None  # the corporate domain (email or website), never free mail
    email_domain: str | None
    free_mail: bool
    phone: str | None
    country: str | None
    country_alpha2: str | None
    state: str | None
    website: str | None
    notes: list[str] = field(default_factory=list)


@dataclass
class IntakeResult:
    """What one intake did, with every step's outcome."""

    intake_id: str
    outcome: str
    subject_type: str | None
    subject_id: str | None
    steps: list[dict[str, Any]]
    normalised: Normalised | None = None
    spam: bool = False
    duplicate_of: dict[str, str] | None = None
    match: Match | None = None
    replayed: bool = False
    routing: RoutingResult | None = None  # the routing step's result, when the lead was routed (R1)

    def step(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.steps if s["step"] == name), None)

    def matched_account(self) -> dict[str, Any] | None:
        """The match as the contracts print it: id, confidence (3 decimals), evidence."""
        if self.match is None:
            return None
        return {
            "id": self.match.account_id,
            "confidence": round(self.match.confidence, 3),
            "evidence": self.match.evidence,
        }


class IntakeEnv:
    """What the pipeline needs beyond the record: playbook, account index, block list.

    Built once per request or per import. Account matching uses the database's shared index
    (services/account_cache.py: built once per process, then kept current from the account change
    log), so a request never reloads every account. After the intake itself created or changed
    accounts (`accounts_changed()`), its own transaction's accounts are not yet committed, so this
    env matches against a private index read through its own session from then on.
    """

    def __init__(self, uow: UnitOfWork, pb: Playbook, *, shared: bool = True) -> None:
        self.pb = pb
        self._uow = uow
        self._shared = shared
        self._private: AccountIndex | None = None
        self.blocked: frozenset[str] = frozenset(uow.session.scalars(select(BlockedDomain.domain)))

    def _private_index(self) -> AccountIndex:
        if self._private is None:
            self._private = build_index(self._uow.session.execute(select_accounts()), self.pb)
        return self._private

    def match(self, lead: LeadRow) -> Match | None:
        """The lead's account (M2) against every account this transaction can see."""
        return self.decide(lead).match

    def decide(self, lead: LeadRow) -> Decision:
        """As `match`, with the reason when there is no match."""
        if not self._shared:
            return self._private_index().decide(lead)
        engine = self._uow.session.get_bind()
        assert isinstance(engine, Engine)
        with shared_index(engine, self.pb).current() as index:
            return index.decide(lead)

    def accounts_changed(self) -> None:
        self._shared = False
        self._private = None


# --------------------------------------------------------------------------- pure steps


def normalise(pb: Playbook, data: LeadIn) -> Normalised:
    """I4/I5: email, phone, country, state, website -> domain; free mail never a domain."""
    notes: list[str] = []
    email = normalise_email(data.email) if data.email else None
    if data.email and email is None:
        raise InvalidInput(f"'{data.email}' is not a valid email address", "email")
    extra = pb.intake.free_mail_domains_extra
    mail_domain = email_domain(email) if email else None
    free = bool(mail_domain and is_free_mail(mail_domain, extra))
    site = website_domain(data.website, extra) if data.website else None
    country = normalise_country(data.country, pb.countries.aliases) if data.country else None
    if data.country and country is None:
        notes.append(f"country '{data.country}' is not on the master list; left blank")
    phone = normalise_phone(data.phone, country.alpha_2 if country else None) if data.phone else None
    if data.phone and phone is None:
        notes.append(f"phone '{data.phone}' could not be parsed to E.164")
    state = None
    if data.state and country:
        code = resolve_subdivision(country, data.state)
        state = code.split("-", 1)[1] if code else data.state
    corporate = site or (mail_domain if mail_domain and not free else None)
    if free:
        notes.append(f"{mail_domain} is a free-mail domain: never an account domain (I5)")
    return Normalised(
        email=email,
        domain=corporate,
        email_domain=mail_domain,
        free_mail=free,
        phone=phone,
        country=country.name if country else None,
        country_alpha2=country.alpha_2 if country else None,
        state=state,
        website=site,
        notes=notes,
    )


def check_required(pb: Playbook, data: LeadIn, norm: Normalised) -> None:
    """I7: at least one of the playbook's field groups must be complete."""
    values = {**data.model_dump(), "email": norm.email}
    groups = pb.intake.required_any_of
    if any(all(values.get(f) for f in group) for group in groups):
        return
    wanted = " or ".join("+".join(g) for g in groups)
    raise Refused(f"a new person needs {wanted}", groups[0][0] if groups else "email")


def delivery_key(channel: str, data: LeadIn) -> str | None:
    """The idempotency key of a webhook delivery (I2), when the sender gave one."""
    return f"{channel}:{data.delivery_id}" if data.delivery_id else None


# --------------------------------------------------------------------------- store helpers


def find_by_email(uow: UnitOfWork, email: str) -> Person | None:
    """I7: the live contact, else the live lead, with this email (oldest first)."""
    for model in (Contact, Lead):
        stmt = (
            select(model)
            .where(model.email == email, model.merged_into_id.is_(None))
            .order_by(model.created_at, model.id)
            .limit(1)
        )
        found = uow.session.scalars(stmt).first()
        if found is not None:
            return found
    return None


def default_owner(uow: UnitOfWork, pb: Playbook) -> User | None:
    """The default owner (R10): the active user with the playbook's default role."""
    stmt = select(User).where(User.role == pb.default_owner_role).order_by(User.id)
    users = list(uow.session.scalars(stmt))
    return next((u for u in users if u.id == "sales-admin"), users[0] if users else None)


def spam_campaign(uow: UnitOfWork, pb: Playbook, now: dt.datetime) -> Campaign:
    name = pb.intake.spam_campaign
    found = uow.session.scalars(select(Campaign).where(Campaign.name == name)).first()
    if found is None:
        found = Campaign(name=name, type="Operational", created_at=now)
        uow.session.add(found)
        uow.session.flush()
    return found


def _record(
    uow: UnitOfWork,
    channel: str,
    data: LeadIn,
    actor: Actor,
    now: dt.datetime,
    outcome: str,
    subject: Person | Account | None,
    steps: list[dict[str, Any]],
    key: str | None,
) -> Intake:
    row = Intake(
        channel=channel,
        received_at=now,
        dedupe_key=key,
        actor_id=str(actor),
        outcome=outcome,
        subject_type=subject.__entity__ if subject is not None else None,
        subject_id=subject.id if subject is not None else None,
        steps=json.loads(json.dumps(steps, default=str)),
        payload=json.loads(data.model_dump_json(exclude_none=True)),
    )
    uow.session.add(row)
    uow.session.flush()
    return row


def _replay(existing: Intake) -> IntakeResult:
    return IntakeResult(
        intake_id=existing.id,
        outcome=existing.outcome,
        subject_type=existing.subject_type,
        subject_id=existing.subject_id,
        steps=existing.steps,
        replayed=True,
    )


# --------------------------------------------------------------------------- the pipeline


def intake(uow: UnitOfWork, env: IntakeEnv, data: LeadIn, actor: Actor, now: dt.datetime) -> IntakeResult:
    """Take one person in on their channel; returns what happened and why."""
    pb = env.pb
    channel = pb.channel(data.channel)
    if channel is None:
        raise InvalidInput(
            f"unknown channel '{data.channel}'; channels: {', '.join(c.name for c in pb.channels)}", "channel"
        )
    key = delivery_key(channel.name, data)
    if key is not None:
        existing = uow.session.scalars(select(Intake).where(Intake.dedupe_key == key)).first()
        if existing is not None:
            return _replay(existing)
    with uow.changing(actor=actor, now=now, rule=f"intake:{channel.name}", why=f"received on {channel.label}"):
        if channel.handling == "forward":
            return _forward(uow, channel, data, actor, now, key)
        if channel.handling == "subscription":
            return _subscribe(uow, env, channel, data, actor, now, key)
        if channel.handling == "usage_ping":
            return _usage_ping(uow, env, channel, data, actor, now, key)
        if channel.handling == "purchase":
            return _purchase(uow, env, channel, data, actor, now, key)
        return _person(uow, env, channel, data, actor, now, key)


def _forward(
    uow: UnitOfWork, channel: ChannelDef, data: LeadIn, actor: Actor, now: dt.datetime, key: str | None
) -> IntakeResult:
    steps = [{"step": "forward", "to": channel.forward_to, "why": f"{channel.label} is not a lead"}]
    row = _record(uow, channel.name, data, actor, now, "forwarded", None, steps, key)
    uow.emit(
        "intake.forwarded",
        payload={
            "to": channel.forward_to,
            "intake": row.id,
            "message": data.model_dump(exclude_none=True, mode="json"),
        },
        dedupe_key=f"forward:{row.id}",
    )
    return IntakeResult(row.id, "forwarded", None, None, steps)


def _subscribe(
    uow: UnitOfWork, env: IntakeEnv, channel: ChannelDef, data: LeadIn, actor: Actor, now: dt.datetime, key: str | None
) -> IntakeResult:
    norm = normalise(env.pb, data)
    if norm.email is None:
        raise InvalidInput("a subscription needs an email", "email")
    person = find_by_email(uow, norm.email)
    added = []
    for list_name in channel.subscribes_to:
        sub = uow.session.scalars(
            select(Subscription).where(Subscription.email == norm.email, Subscription.list_name == list_name)
        ).first()
        if sub is None:
            uow.session.add(
                Subscription(
                    email=norm.email,
                    list_name=list_name,
                    subscribed_at=now,
                    subject_type=person.__entity__ if person else None,
                    subject_id=person.id if person else None,
                )
            )
            added.append(list_name)
        elif sub.unsubscribed_at is not None:
            sub.unsubscribed_at = None
            sub.subscribed_at = now
            added.append(list_name)
    steps = [
        {
            "step": "subscribe",
            "lists": channel.subscribes_to,
            "added": added,
            "why": f"{channel.label} subscribes only; no lead is created",
        }
    ]
    row = _record(uow, channel.name, data, actor, now, "subscribed", person, steps, key)
    return IntakeResult(
        row.id,
        "subscribed",
        person.__entity__ if person else None,
        person.id if person else None,
        steps,
        normalised=norm,
    )


def _purchase(
    uow: UnitOfWork, env: IntakeEnv, channel: ChannelDef, data: LeadIn, actor: Actor, now: dt.datetime, key: str | None
) -> IntakeResult:
    """I1 (004): a Buy Now purchase creates or updates the account and notifies its owner."""
    pb = env.pb
    norm = normalise(pb, data)
    if not data.company and not norm.domain:
        raise InvalidInput("a purchase needs the company or a corporate email/website", "company")
    existing = find_by_email(uow, norm.email) if norm.email else None
    if existing is None and not data.last_name:
        raise InvalidInput("a purchaser becomes a contact, which needs a last name (I7)", "last_name")
    steps: list[dict[str, Any]] = [
        {"step": "normalise", "email": norm.email, "domain": norm.domain, "notes": norm.notes}
    ]
    found = env.match(
        LeadRow(id="purchase", email=norm.email, company=data.company, website=norm.website, country=norm.country)
    )
    if found is not None:
        account = uow.get(Account, found.account_id)
        steps.append(
            {"step": "match", "account": account.id, "confidence": found.confidence, "evidence": found.evidence}
        )
        if account.type in pb.intake.purchase_upgrades_types:
            with uow.changing(rule="purchase-makes-customer", why="a Buy Now purchase (004)"):
                account.type = pb.intake.purchase_account_type
        outcome = "account-updated"
    else:
        account = Account(
            name=data.company or norm.domain or "unknown",
            website=norm.website or norm.domain,
            domain=norm.domain,
            country=norm.country,
            type=pb.intake.purchase_account_type,
            account_source=channel.initial_source,
            industry=data.industry,
        )
        uow.add(account)
        steps.append({"step": "match", "account": None, "why": "no account matched: created one"})
        outcome = "account-created"
        env.accounts_changed()
    if account.owner_id is None:
        owner = default_owner(uow, pb)
        with uow.changing(rule="default-owner", why="no account owner: the default owner handles it (004, R10)"):
            account.owner_id = owner.id if owner else None
    uow.session.flush()
    if isinstance(existing, Contact):
        contact = existing
        _touch(contact, data, norm, channel, now)
        if contact.account_id is None:
            contact.account_id = account.id
    else:
        contact = Contact(
            first_name=data.first_name,
            last_name=data.last_name or (existing.last_name if existing else None),
            email=norm.email,
            phone=norm.phone,
            title=data.title,
            country=norm.country,
            state=norm.state,
            account_id=account.id,
            initial_source=channel.initial_source,
            initial_source_at=now,
            status=pb.intake.lead_status,
            owner_type="user",
            owner_id=account.owner_id,
            bad_data_reasons=[],
        )
        uow.add(contact)
        uow.session.flush()
        if isinstance(existing, Lead):
            existing.converted_contact_id, existing.converted_account_id, existing.converted_at = (
                contact.id,
                account.id,
                now,
            )
    _record_activities(uow, contact, channel, data, now)
    steps.append({"step": "contact", "contact": contact.id, "account": account.id})
    if account.owner_id:
        uow.emit(
            "account.purchase",
            entity=account,
            payload={
                "notify": [account.owner_id],
                "account": account.id,
                "contact": contact.id,
                "why": f"{contact.first_name or ''} {contact.last_name or ''} bought through {channel.label}",
            },
        )
        steps.append({"step": "notify", "to": account.owner_id})
    row = _record(uow, channel.name, data, actor, now, outcome, account, steps, key)
    return IntakeResult(row.id, outcome, "account", account.id, steps, normalised=norm)


def _usage_ping(
    uow: UnitOfWork, env: IntakeEnv, channel: ChannelDef, data: LeadIn, actor: Actor, now: dt.datetime, key: str | None
) -> IntakeResult:
    """I8: match the reporting organisation's account or create a CE-user account for it."""
    pb = env.pb
    norm = normalise(pb, data)
    usage = data.usage
    if not data.company and not norm.domain:
        raise InvalidInput("a usage ping needs the company or its domain", "company")
    found = env.match(
        LeadRow(
            id="ping", email=norm.email, company=data.company, website=norm.website or norm.domain, country=norm.country
        )
    )
    steps: list[dict[str, Any]] = [{"step": "normalise", "notes": norm.notes}]
    if found is not None:
        account = uow.get(Account, found.account_id)
        steps.append(
            {"step": "match", "account": account.id, "confidence": found.confidence, "evidence": found.evidence}
        )
        outcome = "account-updated"
    else:
        owner = default_owner(uow, pb)
        account = Account(
            name=data.company or (norm.domain or "unknown"),
            website=norm.website or norm.domain,
            domain=norm.domain,
            country=norm.country,
            type=pb.intake.usage_ping_account_type,
            account_source=pb.intake.usage_ping_account_source,
            owner_id=owner.id if owner else None,
            industry=(usage.industry if usage else None) or data.industry,
            employees_user_input=None,
        )
        if usage and usage.billing:
            bill = usage.billing
            billing_country = normalise_country(bill.country, pb.countries.aliases) if bill.country else None
            account.addresses = {
                "billing": {
                    "street": bill.street,
                    "city": bill.city,
                    "zip": bill.zip,
                    "state": bill.state,
                    "country": billing_country.name if billing_country else bill.country,
                }
            }
            account.country = account.country or (billing_country.name if billing_country else None)
        uow.add(account)
        steps.append({"step": "match", "account": None, "why": "no account matched: created one (I8)"})
        outcome = "account-created"
        env.accounts_changed()
    account.using_ce = True
    if usage is not None:
        if usage.active_users is not None:
            account.active_ce_users = usage.active_users
        if usage.instances is not None:
            account.ce_instances = usage.instances
        if usage.employees is not None and account.employees_zoominfo is None and outcome == "account-created":
            account.employees_user_input = usage.employees
    uow.session.flush()
    derive.refresh_hierarchy(uow, pb, account, now)
    steps.append(
        {
            "step": "usage",
            "account": account.id,
            "active_ce_users": account.active_ce_users,
            "ce_instances": account.ce_instances,
        }
    )
    row = _record(uow, channel.name, data, actor, now, outcome, account, steps, key)
    return IntakeResult(row.id, outcome, "account", account.id, steps, normalised=norm)


def _person(
    uow: UnitOfWork, env: IntakeEnv, channel: ChannelDef, data: LeadIn, actor: Actor, now: dt.datetime, key: str | None
) -> IntakeResult:
    pb = env.pb
    steps: list[dict[str, Any]] = []
    norm = normalise(pb, data)
    steps.append(
        {
            "step": "normalise",
            "email": norm.email,
            "phone": norm.phone,
            "country": norm.country,
            "domain": norm.domain,
            "free_mail": norm.free_mail,
            "notes": norm.notes,
        }
    )
    blocked = norm.email_domain and _blocked_domain(norm.email_domain, env.blocked | _playbook_blocked(pb))
    if blocked:
        raise Refused(f"leads from {blocked} are blocked (domain block list, I6)", "email")
    verdict = check_spam_step(pb, data, norm)
    steps.append(verdict)
    existing = find_by_email(uow, norm.email) if norm.email else None
    if existing is None:
        check_required(pb, data, norm)
    steps.append({"step": "same_email", "found": f"{existing.__entity__}:{existing.id}" if existing else None})
    match = env.match(
        LeadRow(id="new", email=norm.email, company=data.company, website=norm.website, country=norm.country)
    )
    steps.append(
        {
            "step": "match",
            "account": match.account_id if match else None,
            "confidence": match.confidence if match else None,
            "evidence": match.evidence if match else "no account matched",
        }
    )
    touched_at = max([a.at for a in data.activities], default=now)
    if existing is not None:
        person = existing
        _touch(person, data, norm, channel, touched_at)
        outcome = "updated"
    else:
        person = _new_lead(pb, channel, data, norm, touched_at)
        uow.add(person)
        outcome = "created"
    if isinstance(person, Lead):
        _apply_match(person, match, now)
    # I6: only a new record is flagged: a junk touch with a known person's address must never send that
    # (real) lead or contact to the irreversible SPAM DELETION job
    flag = bool(verdict["spam"]) and existing is None
    if verdict["spam"] and existing is not None:
        verdict["why"] = f"not applied: {existing.__entity__} {existing.id} is already known"
    if flag:
        person.spam = True
        person.spam_reasons = [r["why"] for r in verdict["reasons"] if r["severity"] == "spam"]
    uow.session.flush()
    if flag:
        _add_to_campaign(uow, spam_campaign(uow, pb, now), person, now)
    duplicates = duplicates_step(uow, pb, person, norm, data)
    steps.append(duplicates)
    if isinstance(person, Lead):
        person.duplicate_candidates = duplicates["candidates"]
    written = _record_activities(uow, person, channel, data, now)
    if channel.trial_days and isinstance(person, Lead):
        steps.append(_trial(pb, person, channel, data, touched_at))
    if outcome == "created" and isinstance(person, Lead):
        steps.append(_enter_status(pb, channel, person, data))
    figures = None
    if isinstance(person, Lead):
        uow.session.flush()
        # a new lead's activities are exactly those just written: no need to read them back
        figures = derive.refresh_lead(uow, pb, person, now, external_score=data.score,
                                      activities=written if outcome == "created" else None)
        steps.append(
            {
                "step": "derive",
                "segment": figures.segment,
                "region": figures.region,
                "score": figures.score.total,
                "score_source": figures.score.source,
                "mql": figures.mql.mql,
                "routing_requested": figures.routing.triggered,
                "active": figures.active.active,
                "active_until": figures.active.until,
                "not_to_engage": figures.not_to_engage.flag,
            }
        )
    m4 = None
    if isinstance(person, Lead) and person.converted_at is None and person.status in pb.intake.m4_statuses:
        m4 = _apply_m4(uow, pb, person, now)
        if m4:
            steps.append(m4)
    routed = None
    # R1/S3: after the derived figures (and M4, which may convert or recycle it), a live lead that asked for
    # routing is routed; a spam lead never is (it waits for the SPAM DELETION job, I6).
    if isinstance(person, Lead) and (m4 is None or m4["action"] == "none") and wants_routing(pb, person):
        routed = route_lead(uow, pb, person, actor, now)
        steps.append(routed.step())
    uow.session.flush()
    row = _record(uow, channel.name, data, actor, now, outcome, person, steps, key)
    dup_of = None
    if existing is not None:
        dup_of = {"type": existing.__entity__, "id": existing.id}
    elif duplicates["duplicate_of"]:
        dup_of = duplicates["duplicate_of"]
    return IntakeResult(
        row.id,
        outcome,
        person.__entity__,
        person.id,
        steps,
        normalised=norm,
        spam=bool(verdict["spam"]),
        duplicate_of=dup_of,
        match=match,
        routing=routed,
    )


def _playbook_blocked(pb: Playbook) -> frozenset[str]:
    spam = getattr(pb, "spam", None)
    return frozenset(d.lower() for d in (getattr(spam, "blocked_domains", None) or []))


def _blocked_domain(domain: str, blocked: frozenset[str]) -> str | None:
    parts = domain.lower().split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in blocked:
            return candidate
    return None


def check_spam_step(pb: Playbook, data: LeadIn, norm: Normalised) -> dict[str, Any]:
    """I6: the spam verdict as a step (rules from the playbook)."""
    from leadflow.domain.spam import SpamInput, check_spam

    spam_def = getattr(pb, "spam", None)
    if spam_def is None:
        return {"step": "spam", "spam": False, "reasons": [], "why": "the playbook has no spam rules"}
    verdict = check_spam(
        SpamInput(
            email=norm.email,
            first_name=data.first_name,
            last_name=data.last_name,
            company=data.company,
            title=data.title,
            phone=data.phone,
            country_alpha2=norm.country_alpha2,
            website=data.website,
        ),
        spam_def,
        blocked_domains=frozenset(),
    )
    return {
        "step": "spam",
        "spam": verdict.spam,
        "reasons": [{"rule": r.rule, "severity": r.severity, "why": r.why} for r in verdict.reasons],
    }


# The compared form of a stored person, by the playbook rules it depends on and every field it reads: a
# company's oldest leads are candidates of each new colleague, and parsing their email, phone and country
# again every time was a third of a request's duplicate search. A changed field is a new key.
_PERSON_ROWS: dict[tuple[Any, ...], Any] = {}
_PERSON_ROWS_MAX = 100_000
_RULES_KEYS: dict[tuple[Any, ...], int] = {}


def _person_rules_key(extra: Any, aliases: Any) -> int:
    """A small number standing for the playbook's free-mail list and country aliases (hashing them per
    candidate would cost more than it saves)."""
    rules = (tuple(extra), tuple(sorted((aliases or {}).items())))
    found = _RULES_KEYS.get(rules)
    if found is None:
        found = _RULES_KEYS[rules] = len(_RULES_KEYS)
    return found


DUPLICATE_LIMIT = 200
"""People read per duplicate key (M1): each key's oldest, by (created_at, id); the batch reads the same."""


def duplicates_step(uow: UnitOfWork, pb: Playbook, person: Person, norm: Normalised, data: LeadIn) -> dict[str, Any]:
    """M1: other leads and contacts that look like this person, with score and evidence."""
    from leadflow.domain.duplicates import (
        candidate_keys,
        duplicate_of,
        find_duplicates,
        last_name_filter,
        name_filter,
        person_row,
    )

    rules = pb.duplicates
    if rules is None:
        return {"step": "duplicates", "candidates": [], "duplicate_of": None, "why": "no duplicate rules"}
    extra = pb.intake.free_mail_domains_extra
    aliases = pb.countries.aliases

    rules_key = _person_rules_key(extra, aliases)

    def row_of(record: Any, entity: str) -> Any:
        fields = (
            record.email,
            record.first_name,
            record.last_name,
            getattr(record, "company", None),
            record.phone,
            getattr(record, "website", None) or getattr(record, "domain", None),
            record.country,
        )
        key = (rules_key, entity, record.id, *fields)
        found = _PERSON_ROWS.get(key)
        if found is None:
            email, first, last, company, phone, website, country = fields
            found = person_row(
                entity,
                record.id,
                email=email,
                first_name=first,
                last_name=last,
                company=company,
                phone=phone,
                website=website,
                country=country,
                free_mail_extra=extra,
                country_aliases=aliases,
                email_key=record.email_key,
                phone_key=record.phone_key,
            )
            if len(_PERSON_ROWS) >= _PERSON_ROWS_MAX:
                _PERSON_ROWS.clear()
            _PERSON_ROWS[key] = found
        return found

    me = row_of(person, person.__entity__)
    keys = candidate_keys(me)
    filt = name_filter(me, rules)
    namesakes = last_name_filter(me, rules)
    candidates = []
    seen: set[tuple[str, str]] = set()
    last_names = {person.last_name.lower(), keys.get("last_name_folded", "")} if person.last_name else set()
    for model in (Lead, Contact):
        # Precise keys first, then each broad key on its own, every query limited: at a big company (or
        # with a common last name) the many colleagues must never crowd the real duplicate out. Only the
        # columns the comparison reads are loaded (no ORM objects: a shared switchboard number can bring
        # back hundreds of rows).
        entity = model.__entity__
        columns = [model.id, model.email, model.first_name, model.last_name, model.phone, model.country,
                   model.email_key, model.phone_key]
        if model is Lead:
            columns += [Lead.company, Lead.website, Lead.domain]
        exact: list[Any] = []
        if "email" in keys:
            exact.append(model.email == keys["email"])
        if "phone" in keys:
            exact.append(model.phone == keys["phone"])
        if "domain" in keys and last_names and model is Lead:
            exact.append(and_(Lead.domain == keys["domain"], func.lower(Lead.last_name).in_(last_names)))
        # the broad keys (a last name, a domain) through this person's name filters: only the namesakes and
        # colleagues whose names could agree, so the others never fill the 200 (the namesakes through a
        # narrower filter, as they all share this last name: `last_name_filter`)
        by_name, by_domain = (
            [] if found is None else [
                name_filter_clause(model, literal(found.first, String), literal(found.last, String))]
            for found in (namesakes, filt))
        groups = [(exact, []), ([func.lower(model.last_name).in_(last_names)] if last_names else [], by_name)]
        if "domain" in keys and model is Lead:
            groups.append(([Lead.domain == keys["domain"]], by_domain))
        for group, also in groups:
            if not group:
                continue
            stmt = (
                select(*columns)
                .where(or_(*group), *also, model.id != person.id, model.merged_into_id.is_(None))
                .order_by(model.created_at, model.id)
                .limit(DUPLICATE_LIMIT)
            )
            for other in uow.session.execute(stmt):
                if (entity, other.id) not in seen:
                    seen.add((entity, other.id))
                    candidates.append(row_of(other, entity))
    found = find_duplicates(me, candidates, rules)
    best = duplicate_of(found, rules)
    return {
        "step": "duplicates",
        "candidates": [
            {"type": c.type, "id": c.id, "score": round(c.score, 3), "rule": c.rule, "evidence": list(c.evidence)}
            for c in found[:5]
        ],
        "duplicate_of": {"type": best.type, "id": best.id} if best else None,
    }


def _new_lead(pb: Playbook, channel: ChannelDef, data: LeadIn, norm: Normalised, touched_at: dt.datetime) -> Lead:
    default = pb.default_status
    return Lead(
        first_name=data.first_name,
        last_name=data.last_name,
        email=norm.email,
        phone=norm.phone,
        title=data.title,
        company=data.company,
        website=data.website,
        domain=norm.domain,
        country=norm.country,
        state=norm.state,
        industry=data.industry,
        channel=channel.name,
        developers_bucket=data.developers_bucket,
        how_many_developers=data.how_many_developers,
        employees=data.employees,
        initial_source=channel.initial_source,
        initial_source_at=touched_at,
        status=default.name,
        owner_type="queue" if default.queue else None,
        owner_id=default.queue,
        bad_data_reasons=[],
        score=0,
        score_parts=[],
    )


def _touch(person: Person, data: LeadIn, norm: Normalised, channel: ChannelDef, at: dt.datetime) -> None:
    """A known person touched us again: fill blanks, never erase what we know."""
    fills: dict[str, Any] = {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "phone": norm.phone,
        "title": data.title,
        "country": norm.country,
        "state": norm.state,
    }
    if isinstance(person, Lead):
        fills.update(
            company=data.company,
            website=data.website,
            industry=data.industry,
            domain=norm.domain,
            employees=data.employees,
            developers_bucket=data.developers_bucket,
            how_many_developers=data.how_many_developers,
        )
    for name, value in fills.items():
        if value is not None and getattr(person, name) in (None, ""):
            setattr(person, name, value)
    if isinstance(person, Lead):
        person.channel = data.channel
    if person.initial_source is None:  # D6: the first known touch sets it, as the channel's source
        person.initial_source = channel.initial_source
        person.initial_source_at = at


def _apply_match(lead: Lead, match: Match | None, now: dt.datetime) -> None:
    lead.matched_at = now
    if match is None:
        return
    lead.matched_account_id = match.account_id
    lead.match_confidence = round(match.confidence, 3)
    lead.match_evidence = match.evidence


def _add_to_campaign(uow: UnitOfWork, campaign: Campaign, person: Person, now: dt.datetime) -> None:
    exists = uow.session.scalars(
        select(CampaignMember).where(
            CampaignMember.campaign_id == campaign.id,
            CampaignMember.subject_type == person.__entity__,
            CampaignMember.subject_id == person.id,
        )
    ).first()
    if exists is None:
        uow.session.add(
            CampaignMember(
                campaign_id=campaign.id,
                subject_type=person.__entity__,
                subject_id=person.id,
                added_at=now,
                status="Flagged by spam rules",
            )
        )


def _record_activities(
    uow: UnitOfWork, person: Person, channel: ChannelDef, data: LeadIn, now: dt.datetime
) -> list[tuple[str, dt.datetime]]:
    """Store the touch's activities (the channel itself when none are given); returns (type, at) of each."""
    activities = data.activities or []
    for activity in activities:
        uow.session.add(
            Activity(
                subject_type=person.__entity__,
                subject_id=person.id,
                type=activity.type,
                at=activity.at,
                details={"channel": channel.name},
            )
        )
    if not activities:
        uow.session.add(
            Activity(
                subject_type=person.__entity__,
                subject_id=person.id,
                type=channel.name,
                at=now,
                details={"channel": channel.name},
            )
        )
    latest = max(activities, key=lambda a: a.at) if activities else None
    person.last_interesting_moment = f"{channel.label}" + (f": {latest.type}" if latest else "")
    person.last_interesting_moment_at = latest.at if latest else now
    return [(a.type, a.at.astimezone(dt.UTC)) for a in activities] or [(channel.name, now)]


def _trial(pb: Playbook, lead: Lead, channel: ChannelDef, data: LeadIn, at: dt.datetime) -> dict[str, Any]:
    days = data.trial_days or channel.trial_days or 30
    if days > pb.intake.trial_max_days:
        raise InvalidInput(f"a trial lasts at most {pb.intake.trial_max_days} days", "trial_days")
    ends_at = at + dt.timedelta(days=days)
    if lead.trial_started_at is None or (lead.trial_ends_at and lead.trial_ends_at < at):
        lead.trial_started_at = at
        lead.trial_ends_at = ends_at
    elif lead.trial_ends_at is None or lead.trial_ends_at < ends_at:
        lead.trial_ends_at = ends_at  # a repeat sign-up during a trial never shortens it (e.g. an extension)
    return {"step": "trial", "days": days, "ends_at": lead.trial_ends_at.isoformat()}


def extend_trial(uow: UnitOfWork, pb: Playbook, lead: Lead, days: int, actor: Actor, now: dt.datetime) -> Lead:
    """A trial is extendable (I1): push its end by `days`, within the playbook's maximum."""
    if lead.trial_ends_at is None or lead.trial_started_at is None:
        raise InvalidInput("this lead has no trial", "trial_days")
    new_end = lead.trial_ends_at + dt.timedelta(days=days)
    if days < 1 or (new_end - lead.trial_started_at).days > pb.intake.trial_max_days:
        raise InvalidInput(f"a trial lasts at most {pb.intake.trial_max_days} days in all", "trial_days")
    with uow.changing(actor=actor, now=now, rule="trial-extension", why=f"trial extended by {days} days"):
        lead.trial_ends_at = new_end
    return lead


def _enter_status(pb: Playbook, channel: ChannelDef, lead: Lead, data: LeadIn) -> dict[str, Any]:
    """A new person gets the channel's status (or the playbook's lead status), or an imported one (L8)."""
    if data.status:
        target, reason = lifecycle.map_legacy_status(pb, data.status)
        reason = data.status_reason or reason
        rule = "import-status"
    else:
        target, reason, rule = channel.sets_status or pb.intake.lead_status, None, "intake-status"
    status = lifecycle.resolve_status(pb, target)
    lead.status = status.name
    lead.status_reason = lifecycle.canonical_reason(pb, status, reason)
    owner = lifecycle.holding_owner(status)
    if owner is not None:
        set_owner(lead, owner)
    elif lead.owner_type == "queue":
        lead.owner_type, lead.owner_id = None, None
    return {"step": "status", "status": status.name, "reason": lead.status_reason, "rule": rule}


def _apply_m4(uow: UnitOfWork, pb: Playbook, lead: Lead, now: dt.datetime) -> dict[str, Any] | None:
    """M4: SMB lead of a customer account -> convert into it; open opportunity, no customer -> Recycle."""
    if lead.matched_account_id is None:
        return None
    account = uow.get(Account, lead.matched_account_id)
    segment = account_segment(pb, account)
    if segment not in pb.intake.customer_convert_segments:
        # 002 step 3 ("For SMB leads, ..."): both the conversion (3a) and the open-opportunity
        # recycle (3b) are for SMB leads; larger accounts are worked by their owners.
        return None
    family = _family_types(uow, account)
    if account.type in pb.intake.customer_convert_types:
        contact = _convert_into(uow, lead, account, now)
        return {
            "step": "m4",
            "action": "converted",
            "contact": contact.id,
            "account": account.id,
            "why": f"{segment} lead of {account.type} account {account.name} (M4)",
        }
    if any(t in pb.intake.customer_convert_types for t in family):
        return None
    target = pb.intake.open_opportunity_status
    open_opp = uow.session.scalars(
        select(Opportunity.id)
        .where(Opportunity.account_id == account.id, Opportunity.stage.not_in(pb.intake.closed_stages))
        .limit(1)
    ).first()
    if open_opp is None or target is None:
        return None
    try:
        plan = lifecycle.plan_transition(
            pb, current=lead.status, to=target, reason=pb.intake.open_opportunity_reason, rule="m4-open-opportunity"
        )
    except LeadflowError as refused:
        return {"step": "m4", "action": "none", "why": f"open opportunity {open_opp}, but {refused.message}"}
    with uow.changing(rule=plan.rule, why=f"account {account.name} has open opportunity {open_opp} (M4)"):
        lead.status, lead.status_reason = plan.to_status, plan.reason
        if plan.hand_to is not None:
            set_owner(lead, plan.hand_to)
    return {
        "step": "m4",
        "action": "recycled",
        "status": plan.to_status,
        "reason": plan.reason,
        "opportunity": open_opp,
    }


def _family_types(uow: UnitOfWork, account: Account) -> list[str]:
    from leadflow.services.lifecycle import hierarchy

    return [a.type for a in hierarchy(uow, account)]


def account_segment(pb: Playbook, account: Account) -> str:
    """The account's stored segment, else the active scheme applied to its best employee count."""
    if account.segment:
        return account.segment
    count = account.employees_datafox or account.employees_zoominfo
    if not count:
        return pb.segmentation.unknown
    for band in pb.segmentation.active.bands:
        if band.contains(count):
            return band.name
    return pb.segmentation.unknown


def _convert_into(uow: UnitOfWork, lead: Lead, account: Account, now: dt.datetime) -> Contact:
    contact = Contact(
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        phone=lead.phone,
        title=lead.title,
        country=lead.country,
        state=lead.state,
        initial_source=lead.initial_source,
        initial_source_at=lead.initial_source_at,
        status=lead.status,
        status_reason=lead.status_reason,
        account_id=account.id,
        owner_type="user" if account.owner_id else lead.owner_type,
        owner_id=account.owner_id or lead.owner_id,
        bad_data_reasons=list(lead.bad_data_reasons or []),
    )
    with uow.changing(rule="m4-customer-convert", why=f"converted into customer account {account.name} (M4)"):
        uow.add(contact)
        uow.session.flush()
        lead.converted_contact_id = contact.id
        lead.converted_account_id = account.id
        lead.converted_at = now
        if account.owner_id:
            uow.emit(
                "lead.converted",
                entity=lead,
                payload={"contact": contact.id, "account": account.id, "notify": [account.owner_id]},
            )
    return contact


def payload_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:32]


__all__ = ["IntakeEnv", "IntakeResult", "Owner", "Refused", "extend_trial", "intake", "normalise"]
