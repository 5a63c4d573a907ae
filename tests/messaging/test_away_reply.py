"""When a person writes while their peer supporter is off duty (issue 6, item 7; DESIGN.md §1:
no out-of-hours pressure on peer supporters): the conversation is covered by the programme's
supervisors (an open `OffDutyCover`, which lets them read it) until the peer supporter
answers, and the person gets an automatic reply saying when to expect an answer, in their
own language and time zone, with the crisis resources; at most once per
`Programme.away_reply_interval_minutes`, and not when a crisis reply has just gone out.

Time is controlled throughout: off-duty windows across midnight and across the 2026-11-01
America/Edmonton DST change. Nothing here prints a message text or a phone number."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from messaging.models import Conversation, Message, OutboxPurpose, SmsOutbox
from messaging.risk import texts
from messaging.risk.models import RiskAlert
from messaging.risk.services import resolve_alert
from messaging.selectors import messages_after, readable_conversation
from messaging.services import post_message
from people.models import Participant, User
from programmes.models import Enrolment, Programme, Role
from staffing.models import OffDutyCover
from staffing.services import record_leave, set_working_hours
from tests.support.factories import World, enrol, make_programme, make_staff
from tests.support.sms import phone_of

pytestmark = pytest.mark.django_db

EDMONTON = ZoneInfo("America/Edmonton")
OFFICE_HOURS = {day: ["09:00", "17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
RISKY = "I want to die tonight"


def local(text: str, zone: ZoneInfo = EDMONTON, *, fold: int = 0) -> dt.datetime:
    """A wall-clock time in `zone` (e.g. "2026-03-02 20:00"), as an aware datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def works(
    peer: User, hours: dict[str, list[str]] = OFFICE_HOURS, zone: str = "America/Edmonton"
) -> None:
    set_working_hours(user=peer, working_hours=hours, time_zone=zone, changed_by=None)


def conversation_of(enrolment: Enrolment) -> Conversation:
    return Conversation.objects.get(enrolment=enrolment)


_sent = iter(range(10_000))


def write(enrolment: Enrolment, body: str = "Are you there?", *, channel: str = "sms") -> Message:
    return post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=enrolment.participant.user,
        sender_role="participant",
        channel=channel,
        body=body,
        client_id=f"p-{next(_sent)}",
    ).message


def peer_answers(enrolment: Enrolment, peer: User) -> None:
    post_message(
        conversation_id=conversation_of(enrolment).pk,
        sender=peer,
        sender_role="peer_supporter",
        channel="web",
        body="I'm here now.",
        client_id=f"peer-{next(_sent)}",
    )


def away_replies(enrolment: Enrolment) -> list[dict[str, Any]]:
    """The away replies in the thread, decrypted, oldest first."""
    ids = set(
        Message.objects.filter(
            conversation__enrolment=enrolment, client_id__startswith="away:"
        ).values_list("id", flat=True)
    )
    thread = messages_after(conversation_of(enrolment), after_seq=0)
    return [m for m in thread if m["id"] in {str(i) for i in ids}]


def away_text(enrolment: Enrolment) -> str:
    [reply] = away_replies(enrolment)
    body: str = reply["body"]
    return body


def expected(when: str, language: str = "en", programme_text: str = "Call 988.") -> str:
    return (
        f"{texts.AWAY_REPLY[language].format(when=when)}\n"
        f"{texts.CRISIS_LINE[language]} {programme_text}"
    )


def cover_of(enrolment: Enrolment) -> OffDutyCover | None:
    return OffDutyCover.objects.filter(
        conversation__enrolment=enrolment, ended_at__isnull=True
    ).first()


def lives_in(enrolment: Enrolment, time_zone: str) -> None:
    Participant.objects.filter(pk=enrolment.participant_id).update(time_zone=time_zone)


@pytest.fixture
def office_hours(world: World) -> World:
    """The peer supporter works Monday to Friday, 09:00 to 17:00 in Edmonton."""
    works(world.peer)
    return world


# --- On duty or off -------------------------------------------------------------------------


def test_an_on_duty_peer_means_no_cover_and_no_away_reply(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 11:00"), tick=False)
    write(office_hours.own)
    assert OffDutyCover.objects.count() == 0
    assert away_replies(office_hours.own) == []


def test_a_message_while_the_peer_is_off_duty_opens_a_cover(
    office_hours: World, time_machine: Any
) -> None:
    now = local("2026-03-02 20:00")
    time_machine.move_to(now, tick=False)
    write(office_hours.own)
    cover = cover_of(office_hours.own)
    assert cover is not None
    assert (cover.peer_supporter_id, cover.since, cover.away_reply_at) == (
        office_hours.peer.pk,
        now,
        now,
    )


def test_the_last_minute_of_the_working_day_is_on_duty(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 16:59:59"), tick=False)
    write(office_hours.own)
    assert cover_of(office_hours.own) is None


def test_the_end_of_the_working_day_is_off_duty(office_hours: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-02 17:00"), tick=False)
    write(office_hours.own)
    assert cover_of(office_hours.own) is not None


def test_a_person_waiting_for_a_peer_supporter_gets_no_away_reply(
    world: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    waiting = enrol(world.programme)  # nobody assigned
    write(waiting)
    assert OffDutyCover.objects.count() == 0
    assert away_replies(waiting) == []


# --- What the reply says --------------------------------------------------------------------


def test_the_away_reply_late_in_the_evening_names_tomorrow_morning(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 23:30"), tick=False)  # Monday
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Tuesday 09:00")


def test_the_away_reply_just_after_midnight_names_the_same_morning(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-03 00:30"), tick=False)  # Tuesday, 07:30 UTC
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Tuesday 09:00")


def test_the_away_reply_on_friday_evening_names_monday(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-06 18:00"), tick=False)
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Monday 09:00")


def test_the_away_reply_is_an_automated_message_in_the_thread(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    [reply] = away_replies(office_hours.own)
    assert (reply["channel"], reply["sender"]["role"]) == ("automated", "system")


def test_the_away_reply_reaches_a_person_who_reads_by_sms_by_sms(
    office_hours: World,
    time_machine: Any,
    fake_twilio: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        write(office_hours.own)
    sent = [s.body for s in fake_twilio.sent if s.to == phone_of(office_hours.own)]
    assert sent == [expected("from Tuesday 09:00")]
    assert SmsOutbox.objects.get().purpose == OutboxPurpose.AUTOMATED


def test_the_away_reply_is_in_the_persons_language(office_hours: World, time_machine: Any) -> None:
    Participant.objects.filter(pk=office_hours.own.participant_id).update(language="fr")
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own, "Vous êtes là ?")
    assert away_text(office_hours.own) == expected(
        "à partir de mardi 09:00", "fr", "Appelez le 988."
    )


def test_the_away_reply_gives_the_time_in_the_persons_own_time_zone(
    office_hours: World, time_machine: Any
) -> None:
    lives_in(office_hours.own, "America/Toronto")
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Tuesday 11:00")


def test_the_away_reply_names_the_day_in_the_persons_time_zone(
    office_hours: World, time_machine: Any
) -> None:
    # 09:00 on Tuesday in Edmonton is 03:00 on Wednesday in Sydney.
    lives_in(office_hours.own, "Australia/Sydney")
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Wednesday 03:00")


def test_a_peer_with_no_working_hours_is_back_at_an_unknown_time(
    world: World, time_machine: Any
) -> None:
    works(world.peer, {})
    time_machine.move_to(local("2026-03-02 11:00"), tick=False)
    write(world.own)
    assert away_text(world.own) == expected("when they are back")


def test_a_peer_on_leave_is_back_the_first_working_day_after_it(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 11:00"), tick=False)
    record_leave(
        user=office_hours.peer,
        starts_at=local("2026-03-02 00:00"),
        ends_at=local("2026-03-07 00:00"),  # back after the weekend
        recorded_by=None,
    )
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Monday 09:00")


def test_a_programme_without_crisis_resources_gives_the_emergency_fallback(
    office_hours: World, time_machine: Any
) -> None:
    Programme.objects.filter(pk=office_hours.programme.pk).update(crisis_resources={})
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    assert away_text(office_hours.own) == expected(
        "from Tuesday 09:00", programme_text=texts.CRISIS_FALLBACK["en"]
    )


# --- Across the DST change of 2026-11-01 (02:00 MDT -> 01:00 MST) ----------------------------


def test_across_the_dst_change_the_peer_is_back_at_nine_standard_time(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-10-31 20:00"), tick=False)  # Saturday, still MDT
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Monday 09:00")


def test_across_the_dst_change_a_person_in_a_zone_without_dst_sees_the_hour_move(
    office_hours: World, time_machine: Any
) -> None:
    # Regina keeps UTC-6: 09:00 MDT would be 09:00 there, 09:00 MST (UTC-7) is 10:00.
    lives_in(office_hours.own, "America/Regina")
    time_machine.move_to(local("2026-10-31 20:00"), tick=False)
    write(office_hours.own)
    assert away_text(office_hours.own) == expected("from Monday 10:00")


@pytest.fixture
def night_shift(world: World) -> World:
    """The peer supporter works Saturday and Sunday nights, 22:00 to 06:00 in Edmonton."""
    works(world.peer, {"sat": ["22:00", "06:00"], "sun": ["22:00", "06:00"]})
    return world


def test_a_night_shift_across_the_dst_change_runs_to_six_standard_time(
    night_shift: World, time_machine: Any
) -> None:
    # Saturday 22:00 MDT to Sunday 06:00 MST: nine hours. 05:30 MST is 12:30 UTC.
    time_machine.move_to(local("2026-11-01 05:30"), tick=False)
    write(night_shift.own)
    assert cover_of(night_shift.own) is None


def test_in_the_repeated_hour_of_the_dst_change_the_night_shift_is_on_duty(
    night_shift: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-11-01 01:30", fold=1), tick=False)  # the second 01:30
    write(night_shift.own)
    assert cover_of(night_shift.own) is None


def test_after_a_night_shift_across_the_dst_change_the_peer_is_back_that_evening(
    night_shift: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-11-01 06:30"), tick=False)
    write(night_shift.own)
    assert cover_of(night_shift.own) is not None
    assert away_text(night_shift.own) == expected("from Sunday 22:00")


def test_before_a_night_shift_the_peer_is_back_at_its_start(
    night_shift: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-10-31 21:00"), tick=False)
    write(night_shift.own)
    assert away_text(night_shift.own) == expected("from Saturday 22:00")


def test_a_night_shift_after_midnight_is_on_duty(night_shift: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-08 00:30", fold=0), tick=False)  # Sunday, MST
    write(night_shift.own)
    assert cover_of(night_shift.own) is None


# --- Rate limit -----------------------------------------------------------------------------


def test_a_second_message_within_the_interval_gets_no_second_away_reply(
    office_hours: World, time_machine: Any
) -> None:
    first = local("2026-03-06 18:00")
    time_machine.move_to(first, tick=False)
    write(office_hours.own)
    time_machine.shift(dt.timedelta(hours=7, minutes=59))
    write(office_hours.own, "Still here.")
    assert len(away_replies(office_hours.own)) == 1
    [cover] = OffDutyCover.objects.all()
    assert cover.away_reply_at == first


def test_a_message_after_the_interval_gets_a_new_away_reply(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-06 18:00"), tick=False)
    write(office_hours.own)
    time_machine.shift(dt.timedelta(hours=8, seconds=1))
    write(office_hours.own, "Still here.")
    assert len(away_replies(office_hours.own)) == 2
    assert OffDutyCover.objects.count() == 1


def test_the_interval_is_the_programmes_setting(office_hours: World, time_machine: Any) -> None:
    Programme.objects.filter(pk=office_hours.programme.pk).update(away_reply_interval_minutes=30)
    time_machine.move_to(local("2026-03-06 18:00"), tick=False)
    write(office_hours.own)
    time_machine.shift(dt.timedelta(minutes=29))
    write(office_hours.own, "Hello?")
    assert len(away_replies(office_hours.own)) == 1
    time_machine.shift(dt.timedelta(minutes=2))
    write(office_hours.own, "Hello again?")
    assert len(away_replies(office_hours.own)) == 2


def test_the_rate_limit_holds_across_covers(office_hours: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-06 18:00"), tick=False)
    write(office_hours.own)
    time_machine.shift(dt.timedelta(minutes=10))
    peer_answers(office_hours.own, office_hours.peer)  # ends the cover
    time_machine.shift(dt.timedelta(minutes=50))
    write(office_hours.own, "Thanks, one more thing.")
    assert OffDutyCover.objects.count() == 2
    assert len(away_replies(office_hours.own)) == 1


def test_the_rate_limit_is_per_conversation(world: World, time_machine: Any) -> None:
    works(world.peer)
    works(world.other_peer)
    time_machine.move_to(local("2026-03-06 18:00"), tick=False)
    write(world.own)
    write(world.others)
    assert len(away_replies(world.own)) == 1
    assert len(away_replies(world.others)) == 1


# --- With a crisis reply --------------------------------------------------------------------


def test_no_away_reply_goes_with_a_crisis_reply(office_hours: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own, RISKY)
    assert away_replies(office_hours.own) == []
    assert Message.objects.filter(client_id__startswith="crisis:").count() == 1
    cover = cover_of(office_hours.own)
    assert cover is not None
    assert cover.away_reply_at is None


def test_an_ordinary_message_after_a_crisis_reply_gets_the_away_reply(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own, RISKY)
    time_machine.shift(dt.timedelta(minutes=5))
    write(office_hours.own, "Is anyone reading this?")
    assert away_text(office_hours.own) == expected("from Tuesday 09:00")


def test_a_risky_message_whose_crisis_reply_is_held_gets_the_away_reply(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own, RISKY)
    time_machine.shift(dt.timedelta(minutes=20))
    write(office_hours.own, "I still want to die")  # the crisis reply is rate-limited
    assert Message.objects.filter(client_id__startswith="crisis:").count() == 1
    assert away_text(office_hours.own) == expected("from Tuesday 09:00")


# --- The peer supporter answers -------------------------------------------------------------


def test_the_peer_supporters_answer_ends_the_cover(office_hours: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    time_machine.move_to(local("2026-03-03 09:05"), tick=False)
    peer_answers(office_hours.own, office_hours.peer)
    assert cover_of(office_hours.own) is None
    [cover] = OffDutyCover.objects.all()
    assert cover.ended_at == local("2026-03-03 09:05")


def test_an_automated_message_does_not_end_the_cover(
    office_hours: World, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    assert cover_of(office_hours.own) is not None  # the away reply itself did not end it


def test_a_further_message_keeps_the_one_open_cover(office_hours: World, time_machine: Any) -> None:
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    time_machine.shift(dt.timedelta(minutes=5))
    write(office_hours.own, "Also this.")
    assert OffDutyCover.objects.filter(ended_at__isnull=True).count() == 1


# --- Who may read a covered conversation ------------------------------------------------------


@pytest.fixture
def covered(world: World, time_machine: Any) -> Conversation:
    """A conversation of the other peer's caseload (not the supervisor's team), covered."""
    works(world.other_peer)
    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(world.others)
    assert cover_of(world.others) is not None
    return conversation_of(world.others)


def test_a_supervisor_cannot_read_another_teams_conversation_without_cover(world: World) -> None:
    assert readable_conversation(world.supervisor, conversation_of(world.others).pk) is None


def test_a_supervisor_of_the_programme_may_read_a_covered_conversation(
    world: World, covered: Conversation
) -> None:
    assert readable_conversation(world.supervisor, covered.pk) is not None


def test_another_peer_supporter_may_not_read_a_covered_conversation(
    world: World, covered: Conversation
) -> None:
    assert readable_conversation(world.peer, covered.pk) is None


def test_a_supervisor_of_another_programme_may_not_read_a_covered_conversation(
    world: World, covered: Conversation
) -> None:
    elsewhere = make_staff(make_programme("other"), Role.SUPERVISOR, "elsewhere")
    assert readable_conversation(elsewhere, covered.pk) is None


def test_once_the_peer_answers_the_supervisor_can_no_longer_read_it(
    world: World, covered: Conversation, time_machine: Any
) -> None:
    time_machine.move_to(local("2026-03-03 09:05"), tick=False)
    peer_answers(world.others, world.other_peer)
    assert readable_conversation(world.supervisor, covered.pk) is None


def test_a_supervisor_may_read_another_teams_conversation_while_its_alert_is_unresolved(
    world: World,
) -> None:
    write(world.others, RISKY)  # the other peer is on duty: no cover, an alert
    assert cover_of(world.others) is None
    assert readable_conversation(world.supervisor, conversation_of(world.others).pk) is not None


def test_once_the_alert_is_resolved_the_supervisor_can_no_longer_read_it(world: World) -> None:
    write(world.others, RISKY)
    alert = RiskAlert.objects.get(enrolment=world.others)
    resolve_alert(alert_id=alert.pk, by=world.supervisor, resolution="safe")
    assert readable_conversation(world.supervisor, conversation_of(world.others).pk) is None


def test_a_handoff_ends_the_cover_for_the_previous_peer(
    office_hours: World, time_machine: Any
) -> None:
    from programmes.models import HandoffReason
    from programmes.services import assign_peer_supporter

    time_machine.move_to(local("2026-03-02 20:00"), tick=False)
    write(office_hours.own)
    assert cover_of(office_hours.own) is not None
    fresh = make_staff(office_hours.programme, Role.PEER_SUPPORTER)
    assign_peer_supporter(
        enrolment=office_hours.own,
        peer_supporter=fresh,
        assigned_by=office_hours.supervisor,
        reason=HandoffReason.LEAVE,
    )
    assert cover_of(office_hours.own) is None
