"""Cross-references between playbook sections: every name one section uses must exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadflow.playbook.countries import resolve_country, resolve_subdivision

if TYPE_CHECKING:
    from leadflow.playbook.schema import Playbook

Issue = tuple[str, str]


def _duplicates(path: str, names: list[str], what: str) -> list[Issue]:
    seen: set[str] = set()
    out: list[Issue] = []
    for i, name in enumerate(names):
        key = name.casefold()
        if key in seen:
            out.append((f"{path}[{i}]", f"duplicate {what} '{name}'"))
        seen.add(key)
    return out


def find_reference_issues(pb: Playbook) -> list[Issue]:
    """Every (yaml path, reason) where a name is unknown or defined twice."""
    statuses = set(pb.status_names())
    queues = set(pb.queue_names())
    issues: list[Issue] = []
    issues += _duplicates("statuses", pb.status_names(), "status")
    issues += _duplicates("queues", pb.queue_names(), "queue")
    issues += _duplicates("regions", pb.region_names(), "region")
    issues += _duplicates("channels", [c.name for c in pb.channels], "channel")

    def status_ref(path: str, name: str | None) -> None:
        if name is not None and name not in statuses:
            issues.append((path, f"unknown status '{name}' (statuses: {', '.join(sorted(statuses))})"))

    def queue_ref(path: str, name: str | None) -> None:
        if name is not None and name not in queues:
            issues.append((path, f"unknown queue '{name}' (queues: {', '.join(sorted(queues))})"))

    def reason_ref(path: str, status: str | None, reason: str | None) -> None:
        if reason is not None and status is None:
            issues.append((path, "a reason is given without a status to set"))
            return
        if reason is None or status is None or status not in statuses:
            return
        allowed = pb.reason_names(status)
        if reason not in allowed:
            issues.append((path, f"unknown reason '{reason}' for status {status}"))

    for i, st in enumerate(pb.statuses):
        queue_ref(f"statuses[{i}].queue", st.queue)
        if st.reason_required and not st.reasons:
            issues.append((f"statuses[{i}].reasons", "reason_required but no reasons listed"))
        issues += _duplicates(f"statuses[{i}].reasons", [r.name for r in st.reasons], "reason")

    for i, tr in enumerate(pb.transitions):
        for j, name in enumerate(tr.from_):
            status_ref(f"transitions[{i}].from[{j}]", name)
        for j, name in enumerate(tr.to):
            status_ref(f"transitions[{i}].to[{j}]", name)

    if pb.bad_data:
        known = set(pb.bad_data.reasons)
        for i, rule in enumerate(pb.bad_data.rules):
            base = f"bad_data.rules[{i}]"
            for g, group in enumerate(rule.when_each_group_present):
                for k, reason in enumerate(group):
                    if reason not in known:
                        issues.append(
                            (f"{base}.when_each_group_present[{g}][{k}]", f"unknown bad-data reason '{reason}'")
                        )
            status_ref(f"{base}.set_status", rule.set_status)
            reason_ref(f"{base}.reason", rule.set_status, rule.reason)
            bad_target = pb.status(rule.set_status)
            if bad_target is not None and bad_target.needs_reason and rule.reason is None:
                issues.append((f"{base}.reason", f"status {rule.set_status} needs a reason"))

    account_types = set(pb.account_types)
    for i, cl in enumerate(pb.classifications):
        for j, t in enumerate(cl.account_types):
            if t not in account_types:
                issues.append((f"classifications[{i}].account_types[{j}]", f"unknown account type '{t}'"))

    if pb.offboarding:
        covered: dict[str, set[str]] = {}
        for i, off in enumerate(pb.offboarding.rules):
            base = f"offboarding.rules[{i}]"
            for j, name in enumerate(off.statuses):
                status_ref(f"{base}.statuses[{j}]", name)
                covered.setdefault(name, set()).add(off.mql_date)
            if off.mql_date != "any" and pb.offboarding.mql_cutoff is None:
                issues.append((f"{base}.mql_date", "needs offboarding.mql_cutoff"))
            status_ref(f"{base}.set_status", off.set_status)
            reason_ref(f"{base}.reason", off.set_status, off.reason)
            off_target = pb.status(off.set_status) if off.set_status else None
            if off_target is not None and off_target.needs_reason and off.reason is None:
                issues.append((f"{base}.reason", f"status {off.set_status} needs a reason"))
            for k, step in enumerate(off.owner):
                queue_ref(f"{base}.owner[{k}].queue", step.queue)
        for name in pb.status_names():
            dates = covered.get(name, set())
            if not dates:
                issues.append(("offboarding.rules", f"no rule for status '{name}'"))
            elif "any" not in dates:
                for missing in sorted({"before_cutoff", "on_or_after_cutoff"} - dates):
                    issues.append(("offboarding.rules", f"no rule for status '{name}' with MQL date {missing}"))

    for legacy, mapped in pb.legacy_statuses.items():
        path = f"legacy_statuses.{legacy}"
        status_ref(f"{path}.status", mapped.status)
        reason_ref(f"{path}.reason", mapped.status, mapped.reason)
        found = pb.status(mapped.status)
        if found is not None and found.needs_reason and mapped.reason is None:
            issues.append((f"{path}.reason", f"status {mapped.status} needs a reason"))

    status_ref("scoring.mql_status", pb.scoring.mql_status)
    for j, name in enumerate(pb.scoring.mql_from_statuses):
        status_ref(f"scoring.mql_from_statuses[{j}]", name)

    if pb.segmentation.scheme not in pb.segmentation.schemes:
        issues.append(
            (
                "segmentation.scheme",
                f"unknown scheme '{pb.segmentation.scheme}' (schemes: {', '.join(pb.segmentation.schemes)})",
            )
        )

    aliases = pb.countries.aliases
    for alias, country_name in aliases.items():
        if resolve_country(country_name) is None:
            issues.append((f"countries.aliases.{alias}", f"'{country_name}' is not an ISO 3166 country"))
    owner_of: dict[str, str] = {}
    for i, region in enumerate(pb.regions):
        for j, text in enumerate(region.countries):
            country = resolve_country(text, aliases)
            path = f"regions[{i}].countries[{j}]"
            if country is None:
                issues.append((path, f"unknown country '{text}'"))
            elif not region.legacy:
                if country.alpha_2 in owner_of:
                    issues.append((path, f"{country.name} is already in region {owner_of[country.alpha_2]}"))
                owner_of[country.alpha_2] = region.name
        for text, subs in region.subdivisions.items():
            country = resolve_country(text, aliases)
            path = f"regions[{i}].subdivisions.{text}"
            if country is None:
                issues.append((path, f"unknown country '{text}'"))
                continue
            for j, sub in enumerate(subs):
                code = resolve_subdivision(country, sub)
                if code is None:
                    issues.append((f"{path}[{j}]", f"unknown subdivision '{sub}' of {country.name}"))
                elif not region.legacy:
                    if code in owner_of:
                        issues.append((f"{path}[{j}]", f"{sub} is already in region {owner_of[code]}"))
                    owner_of[code] = region.name

    for i, ch in enumerate(pb.channels):
        status_ref(f"channels[{i}].sets_status", ch.sets_status)
    intake = pb.intake
    status_ref("intake.lead_status", intake.lead_status)
    status_ref("intake.open_opportunity_status", intake.open_opportunity_status)
    reason_ref("intake.open_opportunity_reason", intake.open_opportunity_status, intake.open_opportunity_reason)
    for key in ("purchase_account_type", "usage_ping_account_type"):
        if getattr(intake, key) not in account_types:
            issues.append((f"intake.{key}", f"unknown account type '{getattr(intake, key)}'"))
    for key in ("purchase_upgrades_types", "customer_convert_types"):
        for j, t in enumerate(getattr(intake, key)):
            if t not in account_types:
                issues.append((f"intake.{key}[{j}]", f"unknown account type '{t}'"))
    segments = set(pb.segmentation.names())
    for j, seg in enumerate(intake.customer_convert_segments):
        if seg not in segments:
            issues.append((f"intake.customer_convert_segments[{j}]", f"unknown segment '{seg}'"))
    return issues
