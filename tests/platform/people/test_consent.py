from __future__ import annotations

import pytest

from peerlink.errors import DomainError
from people.models import ConsentRecord
from people.selectors import sms_allowed
from people.services import create_participant, grant_consent, withdraw_consent
from tests.support.factories import fictional_phone

pytestmark = pytest.mark.django_db


def _participant():  # type: ignore[no-untyped-def]
    return create_participant(
        name="Consent Person", phone=fictional_phone(), language="en", time_zone="America/Edmonton"
    )


def test_sms_is_allowed_only_under_an_active_consent() -> None:
    participant = _participant()
    assert not sms_allowed(participant)
    grant_consent(participant=participant, kind="sms", version="v1", source="staff")
    assert sms_allowed(participant)
    withdraw_consent(participant=participant, kind="sms", source="sms")
    assert not sms_allowed(participant)


def test_granting_the_same_version_again_changes_nothing() -> None:
    participant = _participant()
    first = grant_consent(participant=participant, kind="sms", version="v1", source="staff")
    again = grant_consent(participant=participant, kind="sms", version="v1", source="web")
    assert again.pk == first.pk
    assert ConsentRecord.objects.count() == 1


def test_a_new_version_supersedes_the_old_grant_and_keeps_it() -> None:
    participant = _participant()
    grant_consent(participant=participant, kind="research", version="v1", source="staff")
    grant_consent(participant=participant, kind="research", version="v2", source="staff")
    records = list(
        ConsentRecord.objects.order_by("granted_at", "id").values_list("version", "withdrawn_at")
    )
    assert [v for v, _ in records] == ["v1", "v2"]
    assert records[0][1] is not None
    assert records[1][1] is None


def test_withdrawal_keeps_the_record_with_its_time_and_source() -> None:
    participant = _participant()
    grant_consent(participant=participant, kind="sms", version="v1", source="staff")
    assert withdraw_consent(participant=participant, kind="sms", source="sms") == 1
    record = ConsentRecord.objects.get()
    assert record.withdrawn_source == "sms"
    assert record.withdrawn_at is not None
    assert withdraw_consent(participant=participant, kind="sms", source="sms") == 0


def test_opting_back_in_after_withdrawal_creates_a_new_grant() -> None:
    participant = _participant()
    grant_consent(participant=participant, kind="sms", version="v1", source="staff")
    withdraw_consent(participant=participant, kind="sms", source="sms")
    grant_consent(participant=participant, kind="sms", version="v1", source="sms")
    assert ConsentRecord.objects.count() == 2
    assert sms_allowed(participant)


def test_unknown_consent_kind_is_refused_and_writes_nothing() -> None:
    participant = _participant()
    with pytest.raises(DomainError) as excinfo:
        grant_consent(participant=participant, kind="marketing", version="v1", source="staff")
    assert excinfo.value.code == "invalid_consent"
    assert not ConsentRecord.objects.exists()
