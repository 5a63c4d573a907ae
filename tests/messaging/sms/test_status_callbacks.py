"""Twilio's status callbacks: POST /sms/twilio/status/ (messaging/sms/views.py) and
record_delivery_report (messaging/sms/delivery.py). Signed exactly as Twilio signs them; the
delivery status moves forward only, repeats and late reports change nothing, bad input gets a
clear error and changes nothing."""

from __future__ import annotations

import json
import logging
import urllib.parse
from typing import Any

import pytest
from django.forms.models import model_to_dict
from django.test import Client

from audit.models import AuditEntry
from health.metrics import REGISTRY
from messaging.models import (
    Conversation,
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxStatus,
    SenderRole,
    SmsOutbox,
)
from messaging.services import post_message
from messaging.sms.delivery import record_delivery_report
from messaging.sms.signatures import sign
from people.models import ConsentKind, ConsentRecord, ConsentSource
from people.selectors import participant_profile, sms_allowed
from tests.support.factories import World
from tests.support.fake_twilio import SentSms, status_callback_params
from tests.support.sms import post_signed, status_callback, status_url

pytestmark = pytest.mark.django_db

BODY = "Thinking of you today; write back when you can."
UNKNOWN_SID = "SM" + "ab" * 16


def _post(world: World, body: str = BODY) -> Message:
    return post_message(
        conversation_id=Conversation.objects.get(enrolment=world.own).pk,
        sender=world.peer,
        sender_role=SenderRole.PEER_SUPPORTER,
        channel=MessageChannel.WEB,
        body=body,
        client_id=body[:40],
    ).message


@pytest.fixture
def sent(
    world: World, fake_twilio: Any, django_capture_on_commit_callbacks: Any
) -> tuple[SmsOutbox, SentSms]:
    """A message sent by SMS: its row (delivery `queued`, as the fake accepted it) and the
    text Twilio received."""
    with django_capture_on_commit_callbacks(execute=True):
        message = _post(world)
    outbox = SmsOutbox.objects.get(message=message)
    assert outbox.delivery_status == DeliveryStatus.QUEUED
    return outbox, fake_twilio.sent[0]


def _reload(outbox: SmsOutbox) -> SmsOutbox:
    return SmsOutbox.objects.get(pk=outbox.pk)


def _snapshot(outbox: SmsOutbox) -> dict[str, Any]:
    return model_to_dict(_reload(outbox))


def _report(sms: SentSms, status: str, error_code: int | None = None) -> None:
    client = Client(raise_request_exception=False)
    response = status_callback(client, sms, status, error_code=error_code)
    assert response.status_code == 200, response.content[:200]


def _delivery(outbox: SmsOutbox) -> str:
    return _reload(outbox).delivery_status


# Forward only.


def test_reports_move_the_delivery_status_forward(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    seen = []
    for status in ["queued", "sent", "delivered"]:
        _report(sms, status)
        seen.append(_delivery(outbox))
    assert seen == ["queued", "sent", "delivered"]


def test_a_report_that_moves_the_status_records_when(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    before = _reload(outbox).delivery_updated_at
    _report(sms, "delivered")
    after = _reload(outbox).delivery_updated_at
    assert before is not None and after is not None
    assert after > before


def test_a_repeated_report_changes_nothing(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    _report(sms, "delivered")
    before = _snapshot(outbox)
    _report(sms, "delivered")
    assert _snapshot(outbox) == before


def test_reports_out_of_order_leave_the_furthest_status(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    for status in ["delivered", "sent", "queued"]:
        _report(sms, status)
    assert _delivery(outbox) == DeliveryStatus.DELIVERED


@pytest.mark.parametrize(
    ("first", "later"),
    [
        ("undelivered", "delivered"),
        ("failed", "delivered"),
        ("delivered", "failed"),
        ("delivered", "undelivered"),
        ("undelivered", "failed"),
        ("failed", "sent"),
    ],
)
def test_a_final_status_is_never_overwritten(
    sent: tuple[SmsOutbox, SentSms], first: str, later: str
) -> None:
    outbox, sms = sent
    _report(sms, first)
    _report(sms, later)
    assert _delivery(outbox) == first


def test_the_error_code_of_a_report_is_stored(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    _report(sms, "undelivered", error_code=30003)
    row = _reload(outbox)
    assert (row.delivery_status, row.error_code) == (DeliveryStatus.UNDELIVERED, 30003)


def test_a_late_failure_report_leaves_a_delivered_text_without_an_error_code(
    sent: tuple[SmsOutbox, SentSms],
) -> None:
    outbox, sms = sent
    _report(sms, "delivered")
    _report(sms, "failed", error_code=30008)
    row = _reload(outbox)
    assert (row.delivery_status, row.error_code) == (DeliveryStatus.DELIVERED, None)


def test_a_report_never_changes_our_side_of_the_send(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    before = _reload(outbox)
    _report(sms, "failed", error_code=30008)
    row = _reload(outbox)
    assert (row.status, row.attempts, row.provider_message_id) == (
        OutboxStatus.SENT,
        1,
        before.provider_message_id,
    )
    assert row.sent_at == before.sent_at


# The carrier's opt-out (21610) reported in a callback.


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_error_21610_in_a_report_withdraws_the_sms_consent(
    world: World, sent: tuple[SmsOutbox, SentSms], status: str
) -> None:
    _, sms = sent
    _report(sms, status, error_code=21610)
    consent = ConsentRecord.objects.get(
        participant=world.own.participant, kind=ConsentKind.SMS, programme__isnull=True
    )
    assert consent.withdrawn_source == ConsentSource.PROVIDER
    assert not sms_allowed(world.own.participant)


def test_error_21610_in_a_report_is_audited_and_noticed_in_the_conversation(
    world: World, sent: tuple[SmsOutbox, SentSms]
) -> None:
    outbox, sms = sent
    _report(sms, "failed", error_code=21610)
    entry = AuditEntry.objects.get(action="sms.opted_out")
    assert (entry.target_id, entry.details) == (
        str(world.own.participant.pk),
        {"source": "provider"},
    )
    notice = Message.objects.get(client_id=f"sms-opt-out:outbox:{outbox.pk}")
    assert (notice.seq, notice.channel) == (2, "system")


def test_error_21610_in_a_report_skips_the_persons_waiting_texts(
    world: World, sent: tuple[SmsOutbox, SentSms]
) -> None:
    _, sms = sent
    waiting = SmsOutbox.objects.get(message=_post(world, "A text not yet sent."))
    _report(sms, "failed", error_code=21610)
    row = _reload(waiting)
    assert (row.status, row.delivery_status) == (OutboxStatus.SKIPPED, DeliveryStatus.NOT_SENT)


def test_another_error_code_in_a_report_leaves_the_consent_alone(
    world: World, sent: tuple[SmsOutbox, SentSms]
) -> None:
    _, sms = sent
    _report(sms, "undelivered", error_code=30005)
    assert sms_allowed(world.own.participant)
    assert not AuditEntry.objects.filter(action="sms.opted_out").exists()


# Reports we can't place, or don't track.


def _unknown_sms(world: World, hint: str = "") -> SentSms:
    return SentSms(
        sid=UNKNOWN_SID,
        to=participant_profile(world.own.participant).phone,
        body=BODY,
        messaging_service_sid="MG" + "0" * 32,
        status_callback=status_url(hint),
    )


def _skipped_row_hint(world: World, outbox: SmsOutbox) -> str:
    skipped = SmsOutbox.objects.get(message=_post(world, "Never sent."))
    SmsOutbox.objects.filter(pk=skipped.pk).update(
        status=OutboxStatus.SKIPPED, delivery_status=DeliveryStatus.NOT_SENT
    )
    return f"outbox={skipped.pk}"


@pytest.mark.parametrize(
    "hint",
    [
        lambda world, outbox: "",
        lambda world, outbox: f"outbox={outbox.pk}",  # a row that has its own MessageSid
        lambda world, outbox: "outbox=987654",
        lambda world, outbox: "outbox=abc",
        lambda world, outbox: "outbox=%C2%B2",  # "²": a digit to str.isdigit, not to int()
        _skipped_row_hint,
    ],
    ids=[
        "no-hint",
        "row-with-its-own-sid",
        "no-such-row",
        "not-a-number",
        "superscript-two",
        "skipped-row",
    ],
)
def test_a_report_for_an_unknown_message_sid_is_answered_and_changes_nothing(
    world: World, sent: tuple[SmsOutbox, SentSms], hint: Any
) -> None:
    outbox, _ = sent
    query = hint(world, outbox)
    before = {row.pk: model_to_dict(row) for row in SmsOutbox.objects.all()}
    _report(_unknown_sms(world, query), "delivered")
    assert {row.pk: model_to_dict(row) for row in SmsOutbox.objects.all()} == before


def test_a_report_for_an_unknown_message_sid_is_logged_without_number_or_body(
    world: World, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    _report(_unknown_sms(world), "delivered")
    phone = participant_profile(world.own.participant).phone
    assert "unknown MessageSid" in caplog.text
    assert phone not in caplog.text
    assert phone.lstrip("+") not in caplog.text
    assert phone[-7:] not in caplog.text
    assert BODY not in caplog.text


@pytest.mark.parametrize("status", ["receiving", "received", "bogus", "", "delivered!"])
def test_a_report_with_a_status_we_do_not_track_is_ignored(
    sent: tuple[SmsOutbox, SentSms], status: str
) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    _report(sms, status)
    assert _snapshot(outbox) == before


@pytest.mark.parametrize("status", ["Delivered", "DELIVERED", " delivered "])
def test_the_reported_status_is_read_regardless_of_case_and_padding(
    sent: tuple[SmsOutbox, SentSms], status: str
) -> None:
    outbox, sms = sent
    _report(sms, status)
    assert _delivery(outbox) == DeliveryStatus.DELIVERED


# Bad input: a clear error, nothing changed.


def _post_params(sms: SentSms, params: dict[str, str]) -> Any:
    """Signed; a server error comes back as a 500 response rather than an exception."""
    assert sms.status_callback is not None
    return post_signed(Client(raise_request_exception=False), sms.status_callback, params)


@pytest.mark.parametrize("field", ["MessageSid", "MessageStatus"])
def test_a_report_without_a_required_field_is_refused(
    sent: tuple[SmsOutbox, SentSms], field: str
) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    params = status_callback_params(sms, "delivered")
    del params[field]
    response = _post_params(sms, params)
    assert response.status_code == 400
    assert response.json()["code"] == "missing_field"
    assert _snapshot(outbox) == before


@pytest.mark.parametrize(
    "sid", ["SM123", "XX" + "0" * 32, "SM" + "g" * 32, "SM" + "0" * 33, "", "sm" + "0" * 32]
)
def test_a_report_with_a_malformed_message_sid_is_refused(
    sent: tuple[SmsOutbox, SentSms], sid: str
) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    params = {**status_callback_params(sms, "delivered"), "MessageSid": sid}
    response = _post_params(sms, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_field"
    assert _snapshot(outbox) == before


@pytest.mark.parametrize("error_code", ["abc", "-1", "30003x", "3 0003", "1000000", "²", "3.5"])
def test_a_report_with_a_bad_error_code_is_refused(
    sent: tuple[SmsOutbox, SentSms], error_code: str
) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    params = {**status_callback_params(sms, "undelivered"), "ErrorCode": error_code}
    response = _post_params(sms, params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_field"
    assert _snapshot(outbox) == before


def test_an_unsigned_report_is_refused(sent: tuple[SmsOutbox, SentSms]) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    assert sms.status_callback is not None
    params = status_callback_params(sms, "delivered")
    response = post_signed(Client(), sms.status_callback, params, signature="")
    assert response.status_code == 403
    assert json.loads(response.content)["code"] == "invalid_signature"
    assert _snapshot(outbox) == before


def _signed_with_another_token(sms: SentSms) -> Any:
    assert sms.status_callback is not None
    params = status_callback_params(sms, "delivered")
    forged = sign(sms.status_callback, params, token="not-our-auth-token")
    return post_signed(Client(), sms.status_callback, params, signature=forged)


def _body_changed_after_signing(sms: SentSms) -> Any:
    assert sms.status_callback is not None
    params = status_callback_params(sms, "failed")
    tampered = {**params, "MessageStatus": "delivered"}
    body = urllib.parse.urlencode(tampered).encode()
    return post_signed(Client(), sms.status_callback, params, body=body)


def _signed_for_another_row(sms: SentSms) -> Any:
    """A genuine signature for ?outbox=1 replayed on ?outbox=2."""
    assert sms.status_callback is not None
    params = status_callback_params(sms, "delivered")
    signature = sign(sms.status_callback, params)
    other = sms.status_callback.rsplit("=", 1)[0] + "=987654"
    return post_signed(Client(), other, params, signature=signature)


def _signed_for_another_host(sms: SentSms) -> Any:
    params = status_callback_params(sms, "delivered")
    signature = sign("https://evil.example/sms/twilio/status/", params)
    assert sms.status_callback is not None
    return post_signed(Client(), sms.status_callback, params, signature=signature)


@pytest.mark.parametrize(
    "forge",
    [
        _signed_with_another_token,
        _body_changed_after_signing,
        _signed_for_another_row,
        _signed_for_another_host,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_a_forged_report_is_refused(sent: tuple[SmsOutbox, SentSms], forge: Any) -> None:
    outbox, sms = sent
    before = _snapshot(outbox)
    response = forge(sms)
    assert response.status_code == 403
    assert _snapshot(outbox) == before


def _callbacks_counted(result: str) -> float:
    sample = REGISTRY.get_sample_value("peerlink_sms_status_callbacks_total", {"result": result})
    return sample or 0.0


def test_each_report_is_counted_by_its_result(sent: tuple[SmsOutbox, SentSms]) -> None:
    _, sms = sent
    results = ["moved", "unchanged", "forbidden"]
    before = [_callbacks_counted(result) for result in results]
    _report(sms, "delivered")
    _report(sms, "delivered")
    _report(sms, "delivered")
    assert sms.status_callback is not None
    params = status_callback_params(sms, "delivered")
    post_signed(Client(), sms.status_callback, params, signature="")
    after = [_callbacks_counted(result) for result in results]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 2, 1]


def test_the_status_endpoint_takes_posts_only(sent: tuple[SmsOutbox, SentSms]) -> None:
    assert Client().get("/sms/twilio/status/").status_code == 405


# record_delivery_report itself.


@pytest.mark.parametrize(
    ("twilio_status", "ours"),
    [
        ("accepted", DeliveryStatus.QUEUED),
        ("scheduled", DeliveryStatus.QUEUED),
        ("queued", DeliveryStatus.QUEUED),
        ("sending", DeliveryStatus.SENDING),
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.DELIVERED),
        ("undelivered", DeliveryStatus.UNDELIVERED),
        ("failed", DeliveryStatus.FAILED),
        ("canceled", DeliveryStatus.FAILED),
    ],
)
def test_each_twilio_status_maps_onto_ours(
    sent: tuple[SmsOutbox, SentSms], twilio_status: str, ours: str
) -> None:
    outbox, sms = sent
    SmsOutbox.objects.filter(pk=outbox.pk).update(delivery_status=DeliveryStatus.PENDING)
    result = record_delivery_report(
        message_sid=sms.sid, status=twilio_status, error_code=None, outbox_hint=None
    )
    assert (result, _delivery(outbox)) == ("moved", ours)


def test_record_delivery_report_says_what_it_did(sent: tuple[SmsOutbox, SentSms]) -> None:
    _, sms = sent

    def report(status: str, sid: str = sms.sid) -> str:
        return record_delivery_report(
            message_sid=sid, status=status, error_code=None, outbox_hint=None
        )

    assert [
        report("sent"),
        report("sent"),
        report("queued"),
        report("bogus"),
        report("delivered", UNKNOWN_SID),
    ] == ["moved", "unchanged", "unchanged", "ignored", "unknown"]
