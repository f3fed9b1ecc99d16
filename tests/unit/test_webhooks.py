"""I2, R13 rules without a database: the signature, the playbook's webhooks section, payload mapping."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from leadflow.domain.webhook_signature import sign, unix_seconds, verify
from leadflow.errors import InvalidInput, PlaybookError
from leadflow.playbook.load import cached_playbook, default_playbook_path, parse_playbook
from leadflow.playbook.schema import INTAKE_FIELDS
from leadflow.services.intake_models import LeadIn
from leadflow.services.webhooks_in import channel_of, map_payload, value_at
from leadflow.services.webhooks_out import backoff

NOW = dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC)
TS = str(unix_seconds(NOW))
BASE: dict[str, Any] = yaml.safe_load(default_playbook_path().read_text(encoding="utf-8"))


def check(body: bytes, signature: str, timestamp: str = TS, secrets: list[str] | None = None) -> str | None:
    problem = verify(secrets if secrets is not None else ["s3cret"], timestamp, signature, body, NOW, 300)
    return None if problem is None else f"{problem.field}: {problem.error}"


def test_I2_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret", f"{TS}.".encode() + b'{"a":1}', hashlib.sha256).hexdigest()
    assert sign("s3cret", int(TS), b'{"a":1}') == f"sha256={expected}"
    assert check(b'{"a":1}', f"sha256={expected}") is None


@given(st.binary(max_size=200), st.binary(min_size=1, max_size=200))
def test_I2_any_change_to_the_body_breaks_the_signature(body: bytes, extra: bytes) -> None:
    signature = sign("s3cret", int(TS), body)
    assert check(body, signature) is None
    assert check(body + extra, signature) == "X-Leadflow-Signature: signature does not match"


def test_I2_the_signature_binds_the_timestamp() -> None:
    signature = sign("s3cret", int(TS), b"{}")
    assert check(b"{}", signature, timestamp=str(int(TS) - 1)) == "X-Leadflow-Signature: signature does not match"


def test_I2_stale_and_future_timestamps_are_refused_at_the_tolerance() -> None:
    for offset, ok in ((-300, True), (-301, False), (300, True), (301, False)):
        ts = int(TS) + offset
        found = verify(["s3cret"], str(ts), sign("s3cret", ts, b"{}"), b"{}", NOW, 300)
        assert (found is None) is ok, (offset, found)
        if found is not None:
            assert found.field == "X-Leadflow-Timestamp"


def test_I2_missing_pieces_name_their_header() -> None:
    good = sign("s3cret", int(TS), b"{}")
    assert check(b"{}", good, timestamp="") == "X-Leadflow-Timestamp: timestamp header missing"
    assert check(b"{}", good, timestamp="soon") == "X-Leadflow-Timestamp: timestamp is not whole Unix seconds"
    assert check(b"{}", "") == "X-Leadflow-Signature: signature header missing"
    assert check(b"{}", good.removeprefix("sha256=")) == "X-Leadflow-Signature: signature must start with 'sha256='"
    assert check(b"{}", good, secrets=[]) == "X-Leadflow-Signature: no secret is configured for this source"


def test_I2_any_listed_secret_verifies_for_rotation() -> None:
    signed_with_old = sign("old-secret", int(TS), b"{}")
    assert check(b"{}", signed_with_old, secrets=["new-secret", "old-secret"]) is None


def test_I2_playbook_intake_fields_are_exactly_the_intake_models_fields() -> None:
    assert set(LeadIn.model_fields) - {"channel", "delivery_id"} == INTAKE_FIELDS


def test_I2_default_playbook_has_forms_purchases_and_engagement_sources() -> None:
    pb = cached_playbook(None)
    assert [s.name for s in pb.webhooks.sources] == ["forms", "purchases", "engagement"]
    engagement = pb.webhooks.source("engagement")
    assert engagement is not None and engagement.kind == "engagement"  # W1 events of the engagement tool
    assert pb.webhooks.timestamp_tolerance_seconds == 300
    purchases = pb.webhooks.source("purchases")
    assert purchases is not None and purchases.channel == "pricing_purchase"
    assert pb.webhooks.body_limit(purchases) == 32768


def issues(mutate: Any) -> list[tuple[str, str]]:
    data = copy.deepcopy(BASE)
    mutate(data["webhooks"]["sources"][1])
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(yaml.safe_dump(data, sort_keys=False), "broken.yaml")
    return caught.value.issues


def test_I2_a_field_map_to_a_non_intake_field_is_refused_with_its_path() -> None:
    [(path, reason)] = issues(lambda s: s["fields"].update({"account.vat": "vat_number"}))
    assert path.startswith("webhooks.sources[1].fields (line ") and "vat_number" in reason


def test_I2_a_source_naming_an_unknown_channel_is_refused() -> None:
    [(path, reason)] = issues(lambda s: s.update({"channel": "fax"}))
    assert path.startswith("webhooks.sources[1].channel (line ") and reason == "unknown channel 'fax'"


def test_I2_an_intake_source_needs_a_channel() -> None:
    [(path, reason)] = issues(lambda s: s.pop("channel"))
    assert path.startswith("webhooks.sources[1]") and "needs `channel`" in reason


def test_I2_unknown_keys_in_a_source_are_refused() -> None:
    [(path, reason)] = issues(lambda s: s.update({"secret": "inline secrets are not allowed"}))
    assert "secret" in path


def test_I2_payload_paths_walk_objects_and_lists() -> None:
    payload = {"account": {"address": {"country": "Germany"}}, "items": [{"sku": "premium"}]}
    assert value_at(payload, "account.address.country") == "Germany"
    assert value_at(payload, "items.0.sku") == "premium"
    assert value_at(payload, "items.3.sku") is not None  # missing: the sentinel, never an exception
    pb = cached_playbook(None)
    purchases = pb.webhooks.source("purchases")
    assert purchases is not None
    mapped = map_payload(purchases, {"account": {"email": "a@b.example", "last_name": "B", "address": {}}})
    assert mapped == {"email": "a@b.example", "last_name": "B"}


def test_I2_the_form_name_picks_the_channel_and_an_unlisted_form_falls_back() -> None:
    forms = cached_playbook(None).webhooks.source("forms")
    assert forms is not None
    assert channel_of(forms, {"form": "free-trial"}) == "trial_self_managed"
    assert channel_of(forms, {"form": "something-new"}) == "other_form"
    strict = forms.model_copy(update={"channel": None})
    with pytest.raises(InvalidInput) as caught:
        channel_of(strict, {"form": "something-new"})
    assert caught.value.field == "form"


def test_R13_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = cached_playbook(None).webhooks.delivery.model_copy(update={"backoff_seconds": 30,
                                                                         "max_backoff_seconds": 3600})
    assert [backoff(policy, n).total_seconds() for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
