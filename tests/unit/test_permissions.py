"""P1, P2, P4, P5 as pure rules: the principal from the playbook, P2's verdicts, P1's contact owner, and the
playbook's `permissions` section validated (unknown roles, permissions and references refused)."""

from __future__ import annotations

import pytest

from leadflow.domain.permissions import (
    AccountFacts,
    ContactAccountFacts,
    contact_owner,
    may_change_account_owner,
    principal_for,
)
from leadflow.errors import PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, parse_playbook

PB = cached_playbook(None)
TEXT = default_playbook_path().read_text(encoding="utf-8")


def account(**fields: object) -> AccountFacts:
    values: dict[str, object] = {"owner_id": "ae", "parent_id": None, "region": "EMEA", "segment": "Mid-Market",
                                 "employees_datafox": 500}
    values.update(fields)
    return AccountFacts(**values)  # type: ignore[arg-type]


def test_P5_principal_takes_its_permissions_from_the_role() -> None:
    sdr = principal_for(PB, "u1", "SDR", team="EMEA Sales Development", region="EMEA")
    assert sdr.can("leads.read") and not sdr.can("users.write") and not sdr.admin
    admin = principal_for(PB, "u2", "Admin")
    assert admin.can("anything.at.all") and admin.admin and admin.sees_public_sector
    nobody = principal_for(PB, "u3", "Wizard")
    assert not nobody.can("leads.read") and nobody.read_scope == "own"
    assert principal_for(PB, "u4", "Reseller").read_scope == "own"


def test_P4_public_sector_team_members_see_public_sector_records() -> None:
    assert principal_for(PB, "u", "BDR", team="Public Sector").sees_public_sector
    assert principal_for(PB, "u", "SDR", team="US Public Sector Inside Sales").sees_public_sector
    assert not principal_for(PB, "u", "BDR", team="EMEA Sales Development").sees_public_sector
    assert not principal_for(PB, "u", "Ops", team="Sales Operations").sees_public_sector


@pytest.mark.parametrize("who,facts,allowed", [
    (("ae", "AE", "APAC", "SMB"), {}, True),  # the owner gives it away
    (("rd", "RD", "APAC", None), {}, True),  # any RD
    (("adm", "Admin", None, None), {"parent_id": "p"}, True),  # an admin
    (("tl", "Team Lead", "EMEA", None), {}, True),  # a team lead in their region
    (("tl", "Team Lead", "APAC", None), {}, False),  # ... not outside it
    (("sdr", "SDR", "EMEA", "Mid-Market"), {}, True),  # anyone else when every condition holds
    (("sdr", "SDR", "EMEA", "Mid-Market"), {"parent_id": "p"}, False),
    (("sdr", "SDR", "APAC", "Mid-Market"), {}, False),
    (("sdr", "SDR", "EMEA", "Mid-Market"), {"employees_datafox": None}, False),
    (("sdr", "SDR", "EMEA", "SMB"), {}, False),
])
def test_P2_who_may_change_an_account_owner(who: tuple[str, str, str | None, str | None],
                                            facts: dict[str, object], allowed: bool) -> None:
    user_id, role, region, segment = who
    principal = principal_for(PB, user_id, role, region=region, segment=segment)
    verdict = may_change_account_owner(PB, principal, account(**facts))
    assert verdict.allowed is allowed, verdict.why
    assert "(P2)" in verdict.why


def test_P2_refusal_names_every_failed_condition() -> None:
    verdict = may_change_account_owner(PB, principal_for(PB, "x", "BDR", region="APAC", segment="SMB"),
                                       account(parent_id="p", employees_datafox=None))
    assert not verdict.allowed
    for words in ("parent", "region", "DataFox", "segment"):
        assert words in verdict.why


@pytest.mark.parametrize("segment,type_,sdr,expected", [
    ("Large", "Prospect", "sdr", "sdr"),
    ("Large", "Customer", "sdr", "sdr"),
    ("Large", "Prospect", None, "ae"),
    ("Strategic", "Prospect", None, "ae"),
    ("Mid-Market", "Customer", "sdr", "ae"),
    ("SMB", "Customer", "sdr", "ae"),
    ("SMB", "Prospect", "sdr", "sdr"),
    ("Mid-Market", "Partner", None, "ae"),
    (None, "Customer", "sdr", "ae"),
])
def test_P1_contact_owner_by_account_segment_and_type(segment: str | None, type_: str, sdr: str | None,
                                                      expected: str) -> None:
    owner, why = contact_owner(PB, ContactAccountFacts(segment=segment, type=type_, owner_id="ae",
                                                       sdr_assigned_id=sdr, bdr_assigned_id=None))
    assert owner == expected and "(P1)" in why


def _issues(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PlaybookError) as refused:
        parse_playbook(text, "test")
    return refused.value.issues


def test_P5_playbook_permissions_are_validated() -> None:
    bad_perm = TEXT.replace("- {name: Admin, permissions: [\"*\"]}", "- {name: Admin, permissions: [\"leads.fly\"]}")
    assert any("permissions.roles" in path for path, _ in _issues(bad_perm))
    bad_role = TEXT.replace("- {name: Admin, permissions: [\"*\"]}", "- {name: Wizard, permissions: [\"*\"]}")
    assert any("unknown role 'Wizard'" in reason for _, reason in _issues(bad_role))
    twice = TEXT.replace("- {name: Admin, permissions: [\"*\"]}",
                         "- {name: Admin, permissions: [\"*\"]}\n    - {name: Admin, permissions: []}")
    assert any("listed twice" in reason for _, reason in _issues(twice))
    bad_segment = TEXT.replace("segments: [Large, Strategic], owner: [sdr_assigned, owner]",
                               "segments: [Huge], owner: [sdr_assigned, owner]")
    assert any(path.startswith("permissions.contact_owner[0].segments") for path, _ in _issues(bad_segment))
    typo = TEXT.replace("  admin_roles: [Admin]", "  admin_rolez: [Admin]")
    assert any("admin_rolez" in path for path, _ in _issues(typo))


def test_P5_a_playbook_without_permissions_lets_only_admins_in() -> None:
    legacy = cached_playbook(None).model_copy(update={"permissions": type(PB.permissions)()})
    assert principal_for(legacy, "a", "Admin").can("leads.read")
    assert not principal_for(legacy, "s", "SDR").can("leads.read")
