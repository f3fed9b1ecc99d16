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
    for j, name in enumerate(intake.m4_statuses):
        status_ref(f"intake.m4_statuses[{j}]", name)
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

    public = pb.territory.public_sector
    regions = {r.name for r in pb.regions}
    if public.region is not None and public.region not in regions:
        region_list = ", ".join(sorted(regions))
        issues.append(("territory.public_sector.region", f"unknown region '{public.region}' (regions: {region_list})"))
    for i, industry in enumerate(public.industries):
        for j, text in enumerate(industry.countries):
            if resolve_country(text, aliases) is None:
                issues.append((f"territory.public_sector.industries[{i}].countries[{j}]", f"unknown country '{text}'"))
    issues += _score_and_activity_issues(pb)
    issues += find_routing_issues(pb)
    issues += find_working_issues(pb)
    issues += _permission_issues(pb)
    return issues


def _permission_issues(pb: Playbook) -> list[Issue]:
    """P1's contact-owner table names segments and account types of this playbook."""
    segments = set(pb.segmentation.names())
    types = set(pb.account_types)
    issues: list[Issue] = []
    for i, rule in enumerate(pb.permissions.contact_owner):
        path = f"permissions.contact_owner[{i}]"
        issues += [
            (f"{path}.segments", f"unknown segment '{s}' (segments: {', '.join(sorted(segments))})")
            for s in rule.segments
            if s not in segments
        ]
        for key, names in (("account_types", rule.account_types), ("not_account_types", rule.not_account_types)):
            issues += [
                (f"{path}.{key}", f"unknown account type '{t}' (types: {', '.join(sorted(types))})")
                for t in names
                if t not in types
            ]
    return issues


def _score_and_activity_issues(pb: Playbook) -> list[Issue]:
    """S1, S10: the activity types, segments, regions and countries that score and activity rules name exist."""
    issues: list[Issue] = []
    channels = [c.name for c in pb.channels]
    extra = pb.activity.types if pb.activity else []
    known = set(channels) | set(extra)
    listing = ", ".join(sorted(known))

    def activity_ref(path: str, name: str) -> None:
        if name not in known:
            issues.append((path, f"unknown activity type '{name}' (channels and activity.types: {listing})"))

    for i, rule in enumerate(pb.scoring.behaviour):
        for j, name in enumerate(rule.activity_types):
            activity_ref(f"scoring.behaviour[{i}].activity_types[{j}]", name)
    segments = {s.casefold() for s in pb.segmentation.names()}
    regions = {r.casefold() for r in pb.region_names()}
    for i, prof in enumerate(pb.scoring.profile):
        for j, value in enumerate(prof.equals):
            path = f"scoring.profile[{i}].equals[{j}]"
            if prof.field == "segment" and value.casefold() not in segments:
                issues.append((path, f"unknown segment '{value}'"))
            elif prof.field == "region" and value.casefold() not in regions:
                issues.append((path, f"unknown region '{value}'"))
            elif prof.field == "country" and resolve_country(value, pb.countries.aliases) is None:
                issues.append((path, f"unknown country '{value}'"))

    act = pb.activity
    if act is None:
        return issues
    for j, name in enumerate(act.types):
        if name in channels:
            issues.append((f"activity.types[{j}]", f"'{name}' is a channel already (channels are activity types)"))
    issues += _duplicates("activity.types", act.types, "activity type")
    for j, name in enumerate(act.hand_raising):
        activity_ref(f"activity.hand_raising[{j}]", name)
    for name in act.trial_days:
        activity_ref(f"activity.trial_days.{name}", name)
    for j, name in enumerate(act.engage_after_activities):
        activity_ref(f"activity.engage_after_activities[{j}]", name)
    sources = {c.initial_source.casefold() for c in pb.channels}
    for j, source in enumerate(act.not_to_engage_initial_sources):
        if source.casefold() not in sources:
            issues.append(
                (f"activity.not_to_engage_initial_sources[{j}]", f"no channel has the Initial Source '{source}'")
            )
    return issues


def find_routing_issues(pb: Playbook) -> list[Issue]:
    """R1: every field, pool, queue, team, role, region, segment and status a routing section names exists,
    and every test fits the kind of its field."""
    from difflib import get_close_matches

    from leadflow.playbook.schema import ROUTING_FIELDS, ROUTING_OPS, USER_ROLES, FieldTestDef

    routing = pb.routing
    if routing is None:
        return []
    issues: list[Issue] = []
    aliases = pb.countries.aliases
    channels = [c.name for c in pb.channels]
    vocabularies: dict[str, set[str]] = {
        "channels": set(channels),
        "segments": set(pb.segmentation.names()),
        "regions": set(pb.region_names()),
        "statuses": set(pb.status_names()),
        "account_types": set(pb.account_types),
        "activities": set(channels) | set(pb.activity.types if pb.activity else []),
    }
    singular = {"channels": "channel", "segments": "segment", "regions": "region", "statuses": "status"}
    singular |= {"account_types": "account type", "activities": "activity type", "countries": "country"}
    queues = set(pb.queue_names())
    pools = {p.id for p in routing.pools}
    teams = set(routing.teams)
    user_fields = sorted(name for name, spec in ROUTING_FIELDS.items() if spec.type == "user")
    field_list = ", ".join(n for n in ROUTING_FIELDS if not n.startswith("ultimate_parent.")) + ", ultimate_parent.*"

    def in_vocabulary(vocabulary: str, value: str) -> bool:
        if vocabulary == "countries":
            return resolve_country(value, aliases) is not None
        return value in vocabularies[vocabulary]

    def unknown(path: str, what: str, name: str, known: set[str] | list[str]) -> None:
        issues.append((path, f"unknown {what} '{name}' ({what}s: {', '.join(sorted(known)) or 'none'})"))

    issues += _duplicates("routing.teams", routing.teams, "team")
    if routing.unroutable_queue is not None and routing.unroutable_queue not in queues:
        unknown("routing.unroutable_queue", "queue", routing.unroutable_queue, queues)
    for key in ("mql_statuses", "working_statuses"):
        for j, name in enumerate(getattr(routing.same_company, key)):
            if name not in vocabularies["statuses"]:
                unknown(f"routing.same_company.{key}[{j}]", "status", name, vocabularies["statuses"])
    for name in routing.channel_sla:
        if name not in vocabularies["channels"]:
            unknown(f"routing.channel_sla.{name}", "channel", name, vocabularies["channels"])

    for i, pool in enumerate(routing.pools):
        base = f"routing.pools[{i}]"
        for j, role in enumerate(pool.roles):
            if role not in USER_ROLES:
                unknown(f"{base}.roles[{j}]", "role", role, list(USER_ROLES))
        for j, team in enumerate(pool.teams):
            if team not in teams:
                unknown(f"{base}.teams[{j}]", "team", team, teams)
        for j, seg in enumerate(pool.segments):
            if seg not in vocabularies["segments"]:
                unknown(f"{base}.segments[{j}]", "segment", seg, vocabularies["segments"])
        fixed = pool.fixed_regions()
        for j, region in enumerate(fixed):
            if region not in vocabularies["regions"]:
                path = f"{base}.region" if isinstance(pool.region, str) else f"{base}.region[{j}]"
                unknown(path, "region", region, vocabularies["regions"])

    def same_company_statuses(path: str, name: str) -> None:
        mql = name in ("same_company.mql_count", "same_company.earliest_mql_owner")
        if mql and not routing.same_company.mql_statuses:
            issues.append((path, f"{name} needs routing.same_company.mql_statuses"))
        working = name in ("same_company.working_count", "same_company.working_owner")
        if working and not routing.same_company.working_statuses:
            issues.append((path, f"{name} needs routing.same_company.working_statuses"))

    def check_test(path: str, name: str, test: FieldTestDef) -> None:
        spec = ROUTING_FIELDS.get(name)
        if spec is None:
            near = get_close_matches(name, list(ROUTING_FIELDS), n=1)
            hint = f"did you mean '{near[0]}'? " if near else ""
            issues.append((path, f"unknown field '{name}' ({hint}fields: {field_list})"))
            return
        same_company_statuses(path, name)
        allowed = ROUTING_OPS[spec.type]
        for op, value in test.ops():
            op_path = f"{path}.{op}"
            if op not in allowed:
                issues.append(
                    (op_path, f"{op} does not apply to the {spec.type} field {name} (use {', '.join(allowed)})")
                )
                continue
            if op not in ("eq", "in", "not_in"):
                continue
            items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
            for k, item in items:
                item_path = op_path if k is None else f"{op_path}[{k}]"
                if spec.type == "flag":
                    ok = isinstance(item, bool)
                elif spec.type == "number":
                    ok = isinstance(item, int) and not isinstance(item, bool)
                else:
                    ok = isinstance(item, str)
                if not ok:
                    want = {"flag": "true or false", "number": "a whole number"}.get(spec.type, "text")
                    issues.append((item_path, f"{name} is a {spec.type} field: {item!r} is not {want}"))
                elif spec.vocabulary is not None and not in_vocabulary(spec.vocabulary, str(item)):
                    what = singular[spec.vocabulary]
                    if spec.vocabulary == "countries":
                        issues.append((item_path, f"unknown country '{item}'"))
                    else:
                        unknown(item_path, what, str(item), vocabularies[spec.vocabulary])

    def check_user_field(path: str, name: str) -> None:
        if name not in ROUTING_FIELDS:
            issues.append((path, f"unknown field '{name}' (user fields: {', '.join(user_fields)})"))
        elif ROUTING_FIELDS[name].type != "user":
            issues.append((path, f"{name} holds no user (user fields: {', '.join(user_fields)})"))
        else:
            same_company_statuses(path, name)

    takes_all: str | None = None
    for i, rule in enumerate(routing.rules):
        base = f"routing.rules[{i}]"
        if takes_all is not None:
            issues.append((base, f"rule '{rule.id}' is never checked: rule '{takes_all}' before it takes every lead"))
        for name, test in rule.when.items():
            check_test(f"{base}.when.{name}", name, test)
        for g, group in enumerate(rule.when_any):
            for name, test in group.items():
                check_test(f"{base}.when_any[{g}].{name}", name, test)
        for j, target in enumerate(rule.assign):
            path = f"{base}.assign[{j}]"
            if target.user_field is not None:
                check_user_field(f"{path}.user_field", target.user_field)
            if target.pool is not None and target.pool not in pools:
                unknown(f"{path}.pool", "pool", target.pool, pools)
            if target.queue is not None and target.queue not in queues:
                unknown(f"{path}.queue", "queue", target.queue, queues)
        for j, name in enumerate(rule.notify):
            check_user_field(f"{base}.notify[{j}]", name)
        always_yields = any(t.queue is not None or t.default_owner for t in rule.assign)
        if not rule.when and not rule.when_any and (always_yields or not rule.fallthrough_when_empty):
            takes_all = takes_all or rule.id

    if pb.offboarding is not None:
        for i, off in enumerate(pb.offboarding.rules):
            for k, step in enumerate(off.owner):
                if step.round_robin is not None and step.round_robin not in pools:
                    unknown(f"offboarding.rules[{i}].owner[{k}].round_robin", "pool", step.round_robin, pools)
    return issues


def find_working_issues(pb: Playbook) -> list[Issue]:
    """W1-W7: the statuses, reasons, moves, activity types, roles and lists of `working` exist and are allowed."""
    from leadflow.playbook.schema import USER_ROLES

    issues: list[Issue] = []
    statuses = set(pb.status_names())
    channels_and_s10 = {c.name for c in pb.channels} | set(pb.activity.types if pb.activity else [])
    known_activities = channels_and_s10 | set(pb.working.activity_types)

    def move(path: str, sources: list[str], to: str, reason: str | None) -> None:
        if to not in statuses:
            issues.append((f"{path}.to", f"unknown status '{to}'"))
            return
        for j, name in enumerate(sources):
            if name not in statuses:
                issues.append((f"{path}.from[{j}]", f"unknown status '{name}'"))
            elif to not in pb.allowed_targets(name):
                issues.append((f"{path}.from[{j}]", f"{name} -> {to} is not an allowed transition"))
        target = pb.status(to)
        if target is not None:
            if reason is not None and reason not in pb.reason_names(to):
                issues.append((f"{path}.reason", f"unknown reason '{reason}' for status {to}"))
            if reason is None and target.needs_reason:
                issues.append((f"{path}.reason", f"status {to} needs a reason"))

    def activity(path: str, name: str) -> None:
        if name not in known_activities:
            where = "channels, activity.types and working.activity_types"
            issues.append((path, f"unknown activity type '{name}' ({where})"))

    work = pb.working
    issues += _duplicates("working.activity_types", work.activity_types, "activity type")
    for j, name in enumerate(work.activity_types):
        if name in channels_and_s10:
            issues.append((f"working.activity_types[{j}]", f"'{name}' is a channel or an activity.types entry already"))
    issues += _duplicates("working.sequences.rules", [r.id for r in work.sequences.rules], "rule id")
    for i, rule in enumerate(work.sequences.rules):
        path = f"working.sequences.rules[{i}]"
        if rule.to is not None:
            move(path, rule.from_, rule.to, rule.reason)
        else:
            for j, name in enumerate(rule.from_):
                if name not in statuses:
                    issues.append((f"{path}.from[{j}]", f"unknown status '{name}'"))
    for event, name in work.sequences.activity_types.items():
        activity(f"working.sequences.activity_types.{event}", name)
    if work.sla is not None:
        for j, name in enumerate(work.sla.follow_up_activities):
            activity(f"working.sla.follow_up_activities[{j}]", name)
    if work.passing is not None:
        if work.passing.status not in statuses:
            issues.append(("working.passing.status", f"unknown status '{work.passing.status}'"))
        for j, role in enumerate(work.passing.owner_roles):
            if role not in USER_ROLES:
                issues.append((f"working.passing.owner_roles[{j}]", f"unknown role '{role}'"))
    subs = work.subscriptions
    issues += _duplicates("working.subscriptions.lists", subs.lists, "list")
    issues += _duplicates("working.subscriptions.message_kinds", [k.name for k in subs.message_kinds], "message kind")
    for i, ch in enumerate(pb.channels):
        for j, name in enumerate(ch.subscribes_to):
            if subs.lists and name not in subs.lists:
                path = f"channels[{i}].subscribes_to[{j}]"
                issues.append((path, f"unknown list '{name}' (working.subscriptions.lists)"))
    for j, kind in enumerate(subs.message_kinds):
        if kind.list is not None and kind.list not in subs.lists:
            issues.append((f"working.subscriptions.message_kinds[{j}].list", f"unknown list '{kind.list}'"))
    issues += _duplicates("working.status_timeouts", [t.id for t in work.status_timeouts], "rule id")
    for i, timeout in enumerate(work.status_timeouts):
        move(f"working.status_timeouts[{i}]", [], timeout.to, timeout.reason)
        for j, name in enumerate(timeout.statuses):
            path = f"working.status_timeouts[{i}].statuses[{j}]"
            if name not in statuses:
                issues.append((path, f"unknown status '{name}'"))
            elif timeout.to in statuses and timeout.to not in pb.allowed_targets(name):
                issues.append((path, f"{name} -> {timeout.to} is not an allowed transition"))
    return issues
