"""The SMS survey session (issue 8, item 3; DESIGN.md §3, data flows 2 and 5), driven the way
production drives it: signed Twilio webhooks through Django's test client and survey
dispatcher ticks at set instants.

It proves that the introduction says what the survey is, how long it takes, how to answer
and that STOP and HELP still work; that the questions then come one per text in instrument
order and a complete PHQ-9 is scored and thanked; that answers are read by value, by option
words (any case, spaces, a final full stop) and by an instrument's extra answers; that every
kind of invalid answer is re-asked with guidance, stores nothing and still reaches the
person's conversation; the re-ask limit and the pause; resuming after a pause; reserved
keywords winning over the session (HELP, STOP, START); PHQ-9 item 9 opening one risk alert;
expiry with and without answers; a redelivered webhook; and a second instrument of the same
timepoint waiting for the first.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from messaging.models import (
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    OutboxTemplate,
    SenderRole,
    SmsOutbox,
)
from messaging.risk.models import RiskAlert, RiskSignal, SignalSource
from messaging.selectors import message_payload
from outcomes.actions.web_session import save_web_answers
from outcomes.instrument_format import parse_instrument
from outcomes.models import (
    PromptKind,
    SessionState,
    SessionStopReason,
    SurveyAnswer,
    SurveyLink,
    SurveyPrompt,
    SurveyResult,
)
from outcomes.selectors import answers_of
from outcomes.services import import_instrument, switch_to_web_link
from programmes.models import Enrolment
from tests.outcomes.instruments import document
from tests.outcomes.surveys import (
    PEER_SUPPORT,
    baseline,
    enrol_at,
    prompt_kinds,
    reply,
    session_of,
    survey_programme,
    survey_sms,
    survey_texts,
    tick,
)
from tests.scheduling.texts import clock, utc
from tests.support.sms import inbound, phone_of

pytestmark = pytest.mark.django_db

ENROLLED = "2026-12-01T17:00"  # 10:00 in Edmonton, before the 11:00 send time
OPENS = utc("2026-12-01T18:00")  # 11:00 in Edmonton: the baseline opens

PHQ9_ITEMS = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself",
    "Trouble concentrating on things",
    "Moving or speaking so slowly",
    "Thoughts that you would be better off dead",
    "If you checked off any problems",
]

GUIDANCE = "Please reply with one number from 0 to 3."

INVALID_ANSWERS = [
    pytest.param("7", id="out_of_range"),
    pytest.param("-1", id="negative"),
    pytest.param("1.5", id="decimal"),
    pytest.param("1 2", id="two_numbers"),
    pytest.param("sometimes", id="word_no_option"),
    pytest.param("\U0001f642", id="emoji"),
    pytest.param("   ", id="blank"),
]
# Texts with words: they reach the conversation as the person's own message.
WORDED_INVALID_ANSWERS = [p for p in INVALID_ANSWERS if p.id != "blank"]


def at(minutes: int) -> dt.datetime:
    """`minutes` after the baseline opened (all inside the window, outside quiet hours)."""
    return OPENS + dt.timedelta(minutes=minutes)


def invited(**enrol: object) -> Enrolment:
    """A person invited to a PHQ-9 by SMS: the baseline's tick has sent the introduction."""
    arms = PEER_SUPPORT if enrol.get("peer_support") else None
    programme = survey_programme(arms=arms) if arms else survey_programme()
    enrolment = enrol_at(programme, ENROLLED, **enrol)
    assert tick(OPENS).outcomes["invited"] == 1
    return enrolment


def in_conversation() -> Enrolment:
    """An invited person in a peer-support arm: they have a conversation."""
    return invited(peer_support=True)


def answer(client: Client, enrolment: Enrolment, values: list[str], *, start: int = 1) -> int:
    """Text each of `values`, a minute apart from `start`; returns the next free minute."""
    for offset, value in enumerate(values):
        reply(client, enrolment, value, at(start + offset))
    return start + len(values)


def participant_texts(enrolment: Enrolment) -> list[str]:
    """What the person wrote into their conversation by SMS, in order."""
    conversation = enrolment.conversation
    messages = Message.objects.filter(
        conversation=conversation, sender_role=SenderRole.PARTICIPANT, channel=MessageChannel.SMS
    ).order_by("seq")
    return [message_payload(m, conversation)["body"] for m in messages]


def prompts(enrolment: Enrolment, slug: str = "phq9") -> list[tuple[str, str]]:
    """The session's texts as (kind, item asked), in order."""
    return list(
        SurveyPrompt.objects.filter(session=session_of(enrolment, slug))
        .order_by("seq")
        .values_list("kind", "item_key")
    )


def last_text(enrolment: Enrolment) -> str:
    return survey_texts(enrolment)[-1]


# The introduction and the questions -----------------------------------------------------


def test_introduction_says_what_how_long_how_to_answer_and_that_stop_and_help_work() -> None:
    enrolment = invited()
    [intro] = survey_texts(enrolment)
    assert "Programme trial" in intro
    assert "Patient Health Questionnaire-9 (PHQ-9)" in intro
    assert "10 questions" in intro
    assert "about 3 min" in intro
    assert "Reply to each with the number (or the words) of your answer" in intro
    assert "STOP and HELP still work" in intro


def test_introduction_asks_only_the_first_question_with_its_options() -> None:
    enrolment = invited()
    [intro] = survey_texts(enrolment)
    assert f"Q1/10: {PHQ9_ITEMS[0]}" in intro
    options = "0 = Not at all\n1 = Several days\n2 = More than half the days\n3 = Nearly every day"
    assert options in intro
    assert "Q2/10" not in intro
    assert session_of(enrolment).current_item == "phq9_1"


def test_each_answer_is_followed_by_the_next_question_alone_in_instrument_order(
    client: Client,
) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0"] * 9)
    texts = survey_texts(enrolment)
    assert prompt_kinds(enrolment) == ["intro"] + ["item"] * 9
    for number, text in enumerate(texts, start=1):
        assert f"Q{number}/10: {PHQ9_ITEMS[number - 1]}" in text
        assert all(f"Q{other}/10" not in text for other in range(1, 11) if other != number)


def test_phq9_completed_by_sms_is_scored_with_total_and_band(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0", "1", "2", "3", "0", "1", "2", "3", "0", "1"])
    session = session_of(enrolment)
    assert session.state == SessionState.COMPLETED
    assert session.result.total == 12
    assert session.result.band == "Moderate"
    assert session.result.complete is True
    assert session.result.answered == 10


def test_phq9_completed_by_sms_ends_with_the_thanks_text(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0"] * 10)
    assert prompt_kinds(enrolment)[-1] == PromptKind.THANKS
    assert last_text(enrolment) == "Thank you, that is the survey done. Your answers are saved."
    assert session_of(enrolment).next_action_at is None


# Reading answers -------------------------------------------------------------------------


def test_answer_by_value_is_stored_as_that_value(client: Client) -> None:
    enrolment = invited()
    assert reply(client, enrolment, "2", at(1)) == "handled"
    assert answers_of(session_of(enrolment)) == {"phq9_1": 2}


@pytest.mark.parametrize(
    "text", ["  Several days. ", "SEVERAL DAYS", "several days", "Several Days!"]
)
def test_answer_by_option_words_ignores_case_spaces_and_final_full_stop(
    client: Client, text: str
) -> None:
    enrolment = invited()
    assert reply(client, enrolment, text, at(1)) == "handled"
    assert answers_of(session_of(enrolment)) == {"phq9_1": 1}
    assert session_of(enrolment).current_item == "phq9_2"


def test_answer_taken_by_the_survey_does_not_go_into_the_conversation(client: Client) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, "2", at(1))
    assert participant_texts(enrolment) == []


def _instrument_with_extra_answers() -> None:
    doc = document("mood", 2, low=0, high=2)
    doc["options"] = [
        {"value": 0, "label": {"en": "Never"}, "answers": {"en": ["no", "nope"]}},
        {"value": 1, "label": {"en": "Sometimes"}, "answers": {"en": ["a bit"]}},
        {"value": 2, "label": {"en": "Often"}, "answers": {"en": ["yes, a lot"]}},
    ]
    import_instrument(spec=parse_instrument(doc))


@pytest.mark.parametrize(("text", "value"), [("Nope", 0), ("  A BIT.", 1), ("yes, a lot", 2)])
def test_answer_by_an_instruments_extra_answer_is_accepted(
    client: Client, text: str, value: int
) -> None:
    _instrument_with_extra_answers()
    programme = survey_programme(timepoints=baseline("mood"))
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)
    assert reply(client, enrolment, text, at(1)) == "handled"
    assert answers_of(session_of(enrolment, "mood")) == {"mood_1": value}


def test_guidance_names_the_items_own_range(client: Client) -> None:
    _instrument_with_extra_answers()
    programme = survey_programme(timepoints=baseline("mood"))
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)
    reply(client, enrolment, "3", at(1))
    assert "Please reply with one number from 0 to 2." in last_text(enrolment)


# Invalid answers -------------------------------------------------------------------------


@pytest.mark.parametrize("text", INVALID_ANSWERS)
def test_invalid_answer_is_asked_again_with_guidance(client: Client, text: str) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, text, at(1))
    assert prompts(enrolment)[-1] == (PromptKind.REASK, "phq9_1")
    reask = last_text(enrolment)
    assert GUIDANCE in reask
    assert f"Q1/10: {PHQ9_ITEMS[0]}" in reask


@pytest.mark.parametrize("text", INVALID_ANSWERS)
def test_invalid_answer_stores_nothing_and_keeps_the_question_waiting(
    client: Client, text: str
) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, text, at(1))
    session = session_of(enrolment)
    assert not SurveyAnswer.objects.filter(session=session).exists()
    assert session.current_item == "phq9_1"
    assert session.started_at is None


@pytest.mark.parametrize("text", WORDED_INVALID_ANSWERS)
def test_invalid_answer_goes_into_the_conversation_as_the_persons_sms(
    client: Client, text: str
) -> None:
    enrolment = in_conversation()
    assert reply(client, enrolment, text, at(1)) == "message"
    assert participant_texts(enrolment) == [text]


def test_blank_answer_leaves_a_notice_in_the_conversation(client: Client) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, "   ", at(1))
    notices = Message.objects.filter(
        conversation=enrolment.conversation, client_id__startswith="sms-note:"
    )
    assert notices.count() == 1
    assert participant_texts(enrolment) == []


# The re-ask limit and the pause ----------------------------------------------------------


def test_three_invalid_answers_are_each_asked_again(client: Client) -> None:
    enrolment = in_conversation()
    answer(client, enrolment, ["7", "maybe", "9"])
    assert prompt_kinds(enrolment) == ["intro", "reask", "reask", "reask"]
    session = session_of(enrolment)
    assert session.state == SessionState.INVITED
    assert session.invalid_answers == 3


def test_fourth_invalid_answer_pauses_the_session(client: Client) -> None:
    enrolment = in_conversation()
    answer(client, enrolment, ["7", "maybe", "9", "x"])
    assert prompt_kinds(enrolment) == ["intro", "reask", "reask", "reask", "paused"]
    assert "pause the survey" in last_text(enrolment)
    assert session_of(enrolment).state == SessionState.PAUSED


def test_invalid_text_while_paused_is_not_asked_again_but_reaches_the_conversation(
    client: Client,
) -> None:
    enrolment = in_conversation()
    answer(client, enrolment, ["7", "maybe", "9", "x", "what is this"])
    assert prompt_kinds(enrolment) == ["intro", "reask", "reask", "reask", "paused"]
    assert participant_texts(enrolment) == ["7", "maybe", "9", "x", "what is this"]
    assert session_of(enrolment).state == SessionState.PAUSED


# Resuming after a pause ------------------------------------------------------------------


def _paused_at_third_question(client: Client) -> Enrolment:
    enrolment = in_conversation()
    answer(client, enrolment, ["1", "2", "7", "7", "7", "7"])
    assert session_of(enrolment).state == SessionState.PAUSED
    return enrolment


def test_reminder_after_a_pause_asks_the_waiting_question_again(client: Client) -> None:
    enrolment = _paused_at_third_question(client)
    tick(session_of(enrolment).next_action_at)
    assert prompts(enrolment)[-1] == (PromptKind.REMINDER, "phq9_3")
    assert f"Q3/10: {PHQ9_ITEMS[2]}" in last_text(enrolment)
    assert session_of(enrolment).state == SessionState.IN_PROGRESS


def test_valid_answer_after_the_reminder_carries_on_where_it_stopped(client: Client) -> None:
    enrolment = _paused_at_third_question(client)
    reminder_at = session_of(enrolment).next_action_at
    tick(reminder_at)
    before = len(prompts(enrolment))
    reply(client, enrolment, "3", reminder_at + dt.timedelta(minutes=5))
    assert prompts(enrolment)[before:] == [(PromptKind.ITEM, "phq9_4")]
    assert answers_of(session_of(enrolment)) == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}


def test_invalid_answer_after_the_reminder_is_asked_again_afresh(client: Client) -> None:
    enrolment = _paused_at_third_question(client)
    reminder_at = session_of(enrolment).next_action_at
    tick(reminder_at)
    reply(client, enrolment, "7", reminder_at + dt.timedelta(minutes=5))
    assert prompts(enrolment)[-1] == (PromptKind.REASK, "phq9_3")
    assert session_of(enrolment).invalid_answers == 1


def test_pause_after_every_reminder_was_sent_still_gets_one_reminder(client: Client) -> None:
    enrolment = in_conversation()
    for _ in range(2):  # both scheduled reminders go, unanswered
        tick(session_of(enrolment).next_action_at)
    assert session_of(enrolment).reminders_sent == 2
    later = session_of(enrolment).last_activity_at + dt.timedelta(minutes=1)
    for n, text in enumerate(["7", "7", "7", "7"]):
        reply(client, enrolment, text, later + dt.timedelta(minutes=n))
    paused = session_of(enrolment)
    assert paused.state == SessionState.PAUSED
    assert paused.next_action_at < paused.closes_at
    tick(paused.next_action_at)
    assert prompts(enrolment)[-1] == (PromptKind.REMINDER, "phq9_1")


def test_a_sentence_to_the_peer_supporter_is_not_asked_again(client: Client) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, "Can we talk later about my appointment?", at(5))
    assert prompt_kinds(enrolment) == ["intro"]
    assert participant_texts(enrolment) == ["Can we talk later about my appointment?"]


def test_a_crisis_text_is_not_answered_with_a_re_ask(client: Client) -> None:
    from messaging.risk.models import RiskAlert

    enrolment = in_conversation()
    reply(client, enrolment, "kill myself", at(5))
    assert prompt_kinds(enrolment) == ["intro"]
    assert RiskAlert.objects.filter(enrolment=enrolment).count() == 1


def test_text_long_after_the_last_survey_text_is_not_asked_again(client: Client) -> None:
    enrolment = in_conversation()
    reply(client, enrolment, "Hi, are you around tonight?", at(3 * 60))
    assert prompt_kinds(enrolment) == ["intro"]
    assert session_of(enrolment).invalid_answers == 0
    assert participant_texts(enrolment) == ["Hi, are you around tonight?"]


def test_valid_answer_while_paused_carries_on_before_the_reminder(client: Client) -> None:
    enrolment = _paused_at_third_question(client)
    before = len(prompts(enrolment))
    reply(client, enrolment, "Nearly every day", at(30))
    session = session_of(enrolment)
    assert prompts(enrolment)[before:] == [(PromptKind.ITEM, "phq9_4")]
    assert session.state == SessionState.IN_PROGRESS
    assert answers_of(session) == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}


# Reserved keywords -----------------------------------------------------------------------


def test_help_mid_session_answers_with_help(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1"])
    assert reply(client, enrolment, "HELP", at(5)) == "help"
    assert SmsOutbox.objects.filter(
        participant=enrolment.participant,
        purpose=OutboxPurpose.KEYWORD_REPLY,
        template=OutboxTemplate.HELP,
    ).exists()


def test_help_mid_session_is_neither_an_answer_nor_an_invalid_attempt(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1"])
    reply(client, enrolment, "help", at(5))
    session = session_of(enrolment)
    assert answers_of(session) == {"phq9_1": 1}
    assert session.current_item == "phq9_2"
    assert session.invalid_answers == 0
    assert prompt_kinds(enrolment) == ["intro", "item"]


def test_stop_mid_session_stops_the_session_as_opted_out(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1", "2"])
    assert reply(client, enrolment, "STOP", at(5)) == "opted_out"
    session = session_of(enrolment)
    assert session.state == SessionState.STOPPED
    assert session.stop_reason == SessionStopReason.OPTED_OUT
    assert answers_of(session) == {"phq9_1": 1, "phq9_2": 2}


def test_stop_mid_session_cancels_the_survey_texts_waiting_to_go(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1", "2"])
    assert {row.status for row in survey_sms(enrolment)} == {OutboxStatus.PENDING}
    reply(client, enrolment, "stop", at(5))
    assert {row.status for row in survey_sms(enrolment)} == {OutboxStatus.SKIPPED}


def test_no_survey_text_follows_stop(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1"])
    reply(client, enrolment, "STOP", at(5))
    sent_before = len(survey_sms(enrolment))
    reply(client, enrolment, "2", at(10))
    for days in (1, 3, 4, 7, 10, 14, 15):
        tick(OPENS + dt.timedelta(days=days, minutes=1))
    assert len(survey_sms(enrolment)) == sent_before
    assert session_of(enrolment).state == SessionState.STOPPED
    assert answers_of(session_of(enrolment)) == {"phq9_1": 1}


def test_start_after_stop_resumes_with_one_reminder_of_the_waiting_question(
    client: Client,
) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1", "2"])
    reply(client, enrolment, "STOP", at(5))
    assert reply(client, enrolment, "START", at(60)) == "opted_in"
    assert session_of(enrolment).state == SessionState.PAUSED
    before = len(prompts(enrolment))
    tick(at(61))
    tick(at(62))
    assert prompts(enrolment)[before:] == [(PromptKind.REMINDER, "phq9_3")]
    assert f"Q3/10: {PHQ9_ITEMS[2]}" in last_text(enrolment)


def test_answers_continue_after_start(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1", "2"])
    reply(client, enrolment, "STOP", at(5))
    reply(client, enrolment, "START", at(60))
    tick(at(61))
    reply(client, enrolment, "3", at(70))
    session = session_of(enrolment)
    assert answers_of(session) == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}
    assert session.current_item == "phq9_4"
    assert prompts(enrolment)[-1] == (PromptKind.ITEM, "phq9_4")


# PHQ-9 item 9 ----------------------------------------------------------------------------


def _survey_signals(enrolment: Enrolment) -> list[RiskSignal]:
    return list(RiskSignal.objects.filter(alert__enrolment=enrolment, source=SignalSource.SURVEY))


def test_item9_above_zero_opens_a_survey_risk_alert_as_soon_as_answered(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0"] * 8 + ["2"])
    session = session_of(enrolment)
    assert session.state == SessionState.IN_PROGRESS  # item 10 still waiting
    assert RiskAlert.objects.filter(enrolment=enrolment).count() == 1
    [signal] = _survey_signals(enrolment)
    assert signal.source_key == f"survey:{session.pk}:phq9_9"


def test_item9_redelivered_opens_one_alert(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0"] * 8)
    for _ in range(2):
        with clock(at(20)):
            inbound(client, sender=phone_of(enrolment), body="1", message_sid="SM" + "9" * 32)
    assert RiskAlert.objects.filter(enrolment=enrolment).count() == 1
    assert len(_survey_signals(enrolment)) == 1


def test_item9_corrected_opens_no_second_alert(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["0"] * 8 + ["1"])
    with clock(at(20)):
        switch_to_web_link(session_id=session_of(enrolment).pk, by=None)
    tick(at(21))
    link = SurveyLink.objects.get(session=session_of(enrolment))
    with clock(at(25)):
        save_web_answers(link_id=link.pk, answers={"phq9_9": 3}, submit=False)
    assert answers_of(session_of(enrolment))["phq9_9"] == 3
    assert RiskAlert.objects.filter(enrolment=enrolment).count() == 1
    assert len(_survey_signals(enrolment)) == 1


def test_item9_zero_opens_no_alert(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["3"] * 8 + ["0", "3"])
    assert session_of(enrolment).state == SessionState.COMPLETED
    assert not RiskAlert.objects.filter(enrolment=enrolment).exists()


# Expiry ----------------------------------------------------------------------------------


def _tick_through_reminders(enrolment: Enrolment) -> None:
    """Tick at each reminder while one is due before the window closes."""
    session = session_of(enrolment)
    while session.next_action_at is not None and session.next_action_at < session.closes_at:
        tick(session.next_action_at)
        session = session_of(enrolment)


def test_unanswered_session_stays_open_until_its_window_closes() -> None:
    enrolment = invited()
    _tick_through_reminders(enrolment)
    session = session_of(enrolment)
    tick(session.closes_at - dt.timedelta(minutes=1))
    assert session_of(enrolment).state == SessionState.INVITED
    assert session_of(enrolment).reminders_sent == 2


def test_unanswered_session_expires_at_the_tick_after_its_window_closes() -> None:
    enrolment = invited()
    _tick_through_reminders(enrolment)
    closes_at = session_of(enrolment).closes_at
    assert tick(closes_at).outcomes["expired"] == 1
    session = session_of(enrolment)
    assert session.state == SessionState.EXPIRED
    assert session.next_action_at is None
    assert not SurveyResult.objects.filter(session=session).exists()


def test_expired_session_keeps_its_answers_scored_as_incomplete(client: Client) -> None:
    enrolment = invited()
    answer(client, enrolment, ["1", "2", "3"])
    closes_at = session_of(enrolment).closes_at
    assert tick(closes_at + dt.timedelta(minutes=1)).outcomes["expired_partial"] == 1
    session = session_of(enrolment)
    assert session.state == SessionState.EXPIRED
    assert answers_of(session) == {"phq9_1": 1, "phq9_2": 2, "phq9_3": 3}
    assert session.result.complete is False
    assert session.result.answered == 3


def test_text_after_expiry_is_not_taken_as_an_answer(client: Client) -> None:
    enrolment = in_conversation()
    answer(client, enrolment, ["1"])
    closes_at = session_of(enrolment).closes_at
    tick(closes_at + dt.timedelta(minutes=1))
    assert reply(client, enrolment, "2", closes_at + dt.timedelta(minutes=5)) == "message"
    assert answers_of(session_of(enrolment)) == {"phq9_1": 1}
    assert participant_texts(enrolment) == ["2"]


# A redelivered webhook -------------------------------------------------------------------


def test_redelivered_answer_records_one_answer_and_advances_one_item(client: Client) -> None:
    enrolment = invited()
    sid = "SM" + "a" * 32
    for _ in range(2):
        with clock(at(1)):
            response = inbound(client, sender=phone_of(enrolment), body="2", message_sid=sid)
        assert response.status_code == 200
    session = session_of(enrolment)
    assert list(SurveyAnswer.objects.filter(session=session).values_list("item_key", "value")) == [
        ("phq9_1", 2)
    ]
    assert session.current_item == "phq9_2"
    assert prompts(enrolment) == [(PromptKind.INTRO, "phq9_1"), (PromptKind.ITEM, "phq9_2")]


def test_redelivered_invalid_answer_counts_once_towards_the_reask_limit(client: Client) -> None:
    enrolment = in_conversation()
    sid = "SM" + "b" * 32
    for _ in range(2):
        with clock(at(1)):
            inbound(client, sender=phone_of(enrolment), body="7", message_sid=sid)
    assert session_of(enrolment).invalid_answers == 1
    assert prompt_kinds(enrolment) == ["intro", "reask"]
    assert participant_texts(enrolment) == ["7"]


# A second instrument at the same timepoint -----------------------------------------------


def _phq9_then_gad7() -> Enrolment:
    programme = survey_programme(timepoints=baseline("phq9", "gad7"))
    enrolment = enrol_at(programme, ENROLLED)
    tick(OPENS)
    return enrolment


def test_first_instrument_of_the_timepoint_is_asked_first() -> None:
    # Several people, so that an order left to chance (the sessions' random ids) shows.
    programme = survey_programme(timepoints=baseline("phq9", "gad7"))
    enrolments = [enrol_at(programme, ENROLLED) for _ in range(6)]
    tick(OPENS)
    for enrolment in enrolments:
        assert session_of(enrolment, "phq9").state == SessionState.INVITED
        assert session_of(enrolment, "gad7").state == SessionState.PLANNED


def test_second_instrument_is_not_started_while_the_first_sms_session_is_open(
    client: Client,
) -> None:
    enrolment = _phq9_then_gad7()
    answer(client, enrolment, ["1"] * 5)
    for hours in (1, 2, 5):
        tick(OPENS + dt.timedelta(hours=hours))
    assert session_of(enrolment, "gad7").state == SessionState.PLANNED
    assert not SurveyPrompt.objects.filter(session=session_of(enrolment, "gad7")).exists()


def test_second_instrument_is_invited_at_the_tick_after_the_first_completes(
    client: Client,
) -> None:
    enrolment = _phq9_then_gad7()
    done = answer(client, enrolment, ["1"] * 10)
    assert session_of(enrolment, "phq9").state == SessionState.COMPLETED
    assert session_of(enrolment, "gad7").state == SessionState.PLANNED
    tick(at(done + 1))
    gad7 = session_of(enrolment, "gad7")
    assert gad7.state == SessionState.INVITED
    assert prompts(enrolment, "gad7") == [(PromptKind.INTRO, "gad7_1")]


def test_answers_after_the_second_instrument_opens_go_to_it(client: Client) -> None:
    enrolment = _phq9_then_gad7()
    done = answer(client, enrolment, ["1"] * 10)
    tick(at(done + 1))
    reply(client, enrolment, "2", at(done + 2))
    assert answers_of(session_of(enrolment, "gad7")) == {"gad7_1": 2}
    assert len(answers_of(session_of(enrolment, "phq9"))) == 10
