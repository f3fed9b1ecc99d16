"""Who may do what (P1-P5): the principal, role permissions, P2 account owner changes, P1 contact owners.

Pure: the service gathers the facts (the acting user, the account) and these functions decide, with a why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadflow.errors import NotPermitted
from leadflow.playbook.schema import ContactOwnerSource, Playbook


@dataclass(frozen=True)
class Principal:
    """The user behind a request: what the API, the web UI and other helpers' views check against.

    Build one with `principal_for(pb, user_id, role, team, region, segment)`; pass it to
    `services.visibility.visible(stmt, Model, principal, pb)` for every listing, get, count and export,
    and ask `principal.can("leads.write")` before a change.
    """

    user_id: str
    role: str
    team: str | None = None
    region: str | None = None
    segment: str | None = None
    permissions: frozenset[str] = field(default_factory=frozenset)
    admin: bool = False
    read_scope: str = "all"  # "own": only records this user owns
    sees_public_sector: bool = False  # P4: member of a public-sector team, or `public_sector.view`

    def can(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions

    def require(self, permission: str) -> None:
        """NotPermitted (403) unless this principal may `permission`."""
        if not self.can(permission):
            raise NotPermitted(f"role {self.role} may not {permission} (playbook permissions)", None)


def principal_for(
    pb: Playbook,
    user_id: str,
    role: str,
    team: str | None = None,
    region: str | None = None,
    segment: str | None = None,
) -> Principal:
    """The principal of a user under the playbook's `permissions` (a role it does not list may do nothing)."""
    rules = pb.permissions
    role_def = rules.role(role)
    perms = frozenset(role_def.permissions) if role_def else frozenset()
    in_team = team is not None and team in rules.public_sector_teams
    return Principal(
        user_id=user_id,
        role=role,
        team=team,
        region=region,
        segment=segment,
        permissions=perms,
        admin=role in rules.admin_roles,
        read_scope=role_def.read_scope if role_def else "own",
        sees_public_sector=in_team or "*" in perms or "public_sector.view" in perms,
    )


@dataclass(frozen=True)
class AccountFacts:
    """What P2 looks at on an account."""

    owner_id: str | None
    parent_id: str | None
    region: str | None
    segment: str | None
    employees_datafox: int | None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    why: str


def may_change_account_owner(pb: Playbook, who: Principal, account: AccountFacts) -> Verdict:
    """P2: the owner may give it away; listed roles any account; region roles within their region;
    anyone else only when every condition of `others_require` holds."""
    rules = pb.permissions.account_owner_change
    if rules.owner_may_give_away and account.owner_id is not None and account.owner_id == who.user_id:
        return Verdict(True, f"{who.user_id} owns the account and may give it away (P2)")
    if who.role in rules.any_account_roles:
        return Verdict(True, f"a {who.role} may change any account's owner (P2)")
    if who.role in rules.own_region_roles:
        if who.region is not None and who.region == account.region:
            return Verdict(True, f"a {who.role} may change owners within their region {who.region} (P2)")
        return Verdict(
            False,
            f"a {who.role} may change owners only within their region "
            f"({who.region or 'none'}); the account is in {account.region or 'no region'} (P2)",
        )
    failed: list[str] = []
    for condition in rules.others_require:
        if condition == "no_parent" and account.parent_id is not None:
            failed.append("the account has a parent")
        elif condition == "same_region" and (who.region is None or who.region != account.region):
            failed.append(f"the account's region {account.region or 'none'} is not yours ({who.region or 'none'})")
        elif condition == "datafox_employees" and not account.employees_datafox:
            failed.append("the account has no DataFox employee count")
        elif condition == "same_segment" and (who.segment is None or who.segment != account.segment):
            failed.append(
                f"the account's segment {account.segment or 'none'} is not the one you work ({who.segment or 'none'})"
            )
    if failed:
        return Verdict(False, "; ".join(failed) + " (P2)")
    return Verdict(True, "no parent, your region, a DataFox employee count and your segment (P2)")


@dataclass(frozen=True)
class ContactAccountFacts:
    """What P1 looks at on a contact's account."""

    segment: str | None
    type: str | None
    owner_id: str | None
    sdr_assigned_id: str | None
    bdr_assigned_id: str | None


def contact_owner(pb: Playbook, account: ContactAccountFacts) -> tuple[str | None, str]:
    """P1: the contact's owner derived from its account: the first table line that holds decides."""
    for i, rule in enumerate(pb.permissions.contact_owner):
        if rule.segments and account.segment not in rule.segments:
            continue
        if rule.account_types and account.type not in rule.account_types:
            continue
        if rule.not_account_types and account.type in rule.not_account_types:
            continue
        for source in rule.owner:
            value = _source(account, source)
            if value:
                return value, f"permissions.contact_owner[{i}]: {rule.description or source} -> {source} (P1)"
        return None, f"permissions.contact_owner[{i}]: none of {', '.join(rule.owner)} is set on the account (P1)"
    return account.owner_id, "no contact-owner rule applies: the account owner (P1)"


def _source(account: ContactAccountFacts, source: ContactOwnerSource) -> str | None:
    if source == "sdr_assigned":
        return account.sdr_assigned_id
    if source == "bdr_assigned":
        return account.bdr_assigned_id
    return account.owner_id
