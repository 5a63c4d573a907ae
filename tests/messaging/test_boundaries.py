"""Roles and boundaries (issue 6, item 6): finding contact details in a peer supporter's
message, and holding such a message in the service layer until it is confirmed."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from messaging.boundaries import KINDS, contact_details_in, programme_numbers
from messaging.models import BoundaryConfirmation, Conversation, Message, SmsOutbox
from messaging.services import HeldForBoundaries, NotAMember, PostedMessage, post_as_member
from people.models import User
from programmes.models import Programme
from tests.support.factories import World, make_programme

REGION = "CA"
CRISIS_LINE = "1-833-456-4566"  # Talk Suicide Canada
SERVICE_NUMBER = "+17805550000"


def kinds(body: str, programme: Programme | None = None) -> list[str]:
    return contact_details_in(body, region=REGION, programme=programme)


def crisis_programme() -> Programme:
    """Unsaved: the detector only reads the programme's texts and number."""
    return Programme(
        crisis_resources={
            "en": f"If you are in danger call 911. Crisis line, any time: {CRISIS_LINE}.",
            "fr": "Ligne de crise : 1 833 456 4566.",
        },
        contact_text={"en": "The programme office: (587) 555-0100."},
        sms_number=SERVICE_NUMBER,
    )


# --- detection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "Call me at (780) 555-0123",
        "my cell is 780.555.0199",
        "780-555-0142 after six",
        "780 555 0142",
        "7805550142",
        "+1 403 555 0117",
        "+1-403-555-0117",
        "1 (587) 555-0123 is my home",
        "text me on +44 20 7946 0958",
        "tel: \uff17\uff18\uff10 \uff15\uff15\uff15 \uff10\uff11\uff14\uff12",  # full-width
    ],
)
def test_phone_numbers_are_found_however_they_are_written(body: str) -> None:
    assert kinds(body) == ["phone"]


@pytest.mark.parametrize(
    "body",
    [
        "jane.doe@example.com",
        "Write to JANE+peer@Mail.Example.co.uk.",
        "mail me (jane_doe99@example.org)",
        "josé@exemple.fr",
        "<j.o'neil@example.ca>",
    ],
)
def test_email_addresses_are_found(body: str) -> None:
    assert kinds(body) == ["email"]


@pytest.mark.parametrize(
    "body",
    ["add me @jane_doe", "insta: @Jane.Doe.", "(@jd_1990)", "@janedoe", "find me @ME_on_here!"],
)
def test_handles_are_found(body: str) -> None:
    assert kinds(body) == ["handle"]


@pytest.mark.parametrize(
    "body",
    [
        "instagram.com/jane_doe",
        "https://www.instagram.com/jane.doe/",
        "http://m.facebook.com/jane.doe",
        "facebook.com/profile.php?id=1000123",
        "tiktok.com/@janedoe",
        "https://vm.tiktok.com/ZMabc123/",
        "wa.me/17805550123",
        "t.me/janedoe",
        "snapchat.com/add/jane_doe",
        "X.COM/JaneDoe",
        "chat.whatsapp.com/AbC123",
        "discord.gg/abc123",
    ],
)
def test_social_and_messenger_links_are_found_as_links(body: str) -> None:
    # A number or handle inside a link is the link: wa.me/<number> is not a phone as well.
    assert kinds(body) == ["link"]


def test_several_kinds_come_back_once_each_in_a_fixed_order() -> None:
    body = "instagram.com/jane or @jane, jane@example.com, 780-555-0123, 403 555 0117"
    assert kinds(body) == ["phone", "email", "handle", "link"]


@pytest.mark.parametrize(
    "body",
    [
        "See you at 10:30.",
        "Our next call is 2024-05-06 at 14:00",
        "on 12/05/2024 or 5/6/24",
        "It costs $1,234.56, or 1234.56 CAD",
        "call me tomorrow",
        "meet @ 5",
        "meet @5pm or @10:30 or @17h30",
        "I'm at home @ the moment",
        "3 @ 4 for $10",
        "me@home",
        "room 1234, bus 55, 100 km",
        "order #123456789",
        "give 988 a call, or text 988",
        "instagram.com",
        "box.com/file and maxx.com/page",
        "a nice video: youtube.com/watch?v=abc123",
        "@",
        "email@",
        "",
    ],
)
def test_ordinary_text_holds_no_contact_details(body: str) -> None:
    assert kinds(body) == []


@pytest.mark.parametrize(
    "body",
    [
        f"You can call the crisis line any time: {CRISIS_LINE}",
        "Crisis line: (833) 456-4566",
        "Text us on +1 780 555 0000",
        "The office is on 587-555-0100",
    ],
)
def test_the_programmes_own_numbers_do_not_count(body: str) -> None:
    programme = crisis_programme()
    assert kinds(body, programme) == []
    assert kinds(body) == ["phone"]  # without the programme, they are phone numbers


def test_a_private_number_next_to_the_crisis_line_still_counts() -> None:
    assert kinds(f"{CRISIS_LINE}, or me on 780 555 0123", crisis_programme()) == ["phone"]


def test_programme_numbers_are_read_from_every_language_and_the_sms_number() -> None:
    assert programme_numbers(crisis_programme(), region=REGION) == {
        "+18334564566",
        "+15875550100",
        SERVICE_NUMBER,
    }
    assert programme_numbers(Programme(), region=REGION) == frozenset()


def test_odd_programme_settings_do_not_break_detection() -> None:
    programme = Programme(crisis_resources={"en": None, "fr": 5}, contact_text=[], sms_number="")
    assert kinds("780 555 0123", programme) == ["phone"]


def test_the_region_decides_numbers_written_without_a_country_code() -> None:
    assert contact_details_in("020 7946 0958", region="GB") == ["phone"]
    assert contact_details_in("020 7946 0958", region="CA") == []


@settings(max_examples=300, deadline=None)
@given(body=st.text(max_size=400), region=st.sampled_from(["CA", "US", "GB", "FR", "ZZ"]))
def test_detection_never_raises_and_answers_only_kinds(body: str, region: str) -> None:
    found = contact_details_in(body, region=region, programme=crisis_programme())
    assert found == [kind for kind in KINDS if kind in found]


contactish = st.lists(
    st.sampled_from(
        ["@", ".", "-", " ", "(", ")", "+", "/", ":", "1", "7", "0", "5", "a", "é", "_", "com"]
    ),
    max_size=120,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(body=contactish)
def test_detection_never_raises_on_text_made_of_contact_characters(body: str) -> None:
    found = contact_details_in(body, region=REGION)
    assert set(found) <= set(KINDS)


# --- the service: held, confirmed, recorded ---------------------------------------------


def _post(
    world: World,
    body: str,
    *,
    client_id: str | None = None,
    user: User | None = None,
    confirm_contact_details: bool = False,
) -> PostedMessage:
    conversation = Conversation.objects.get(enrolment=world.own)
    return post_as_member(
        conversation_id=conversation.pk,
        user=user or world.peer,
        channel="web",
        body=body,
        client_id=client_id or uuid.uuid4().hex,
        confirm_contact_details=confirm_contact_details,
    )


def _counts() -> tuple[int, int, int]:
    return Message.objects.count(), SmsOutbox.objects.count(), BoundaryConfirmation.objects.count()


@pytest.mark.django_db
def test_a_held_message_stores_nothing_and_uses_no_seq(world: World) -> None:
    _post(world, "Hello")
    before = _counts()
    with pytest.raises(HeldForBoundaries) as held:
        _post(world, "call me on 780 555 0123 or jane@example.com", client_id="c-held")
    assert held.value.code == "contact_details"
    assert held.value.kinds == ["phone", "email"]
    # The error says what kind, never what: no number or address in it.
    assert "780" not in held.value.message and "example" not in held.value.message
    assert _counts() == before
    assert Conversation.objects.get(enrolment=world.own).last_seq == 1
    assert _post(world, "Talk soon").message.seq == 2


@pytest.mark.django_db
def test_a_confirmed_message_is_posted_and_its_confirmation_recorded(world: World) -> None:
    posted = _post(world, "my email: jane@example.com", confirm_contact_details=True)
    assert posted.created and posted.message.seq == 1
    confirmation = BoundaryConfirmation.objects.get()
    assert confirmation.message == posted.message
    assert confirmation.peer_supporter == world.peer
    assert confirmation.kinds == ["email"]
    assert confirmation.created_at == posted.message.created_at
    # The person reads by SMS: the message goes out as usual.
    assert SmsOutbox.objects.filter(message=posted.message).count() == 1
    entry = AuditEntry.objects.get(action="boundary.confirmed")
    assert entry.actor_id == world.peer.pk
    assert entry.target_id == str(confirmation.pk)
    assert entry.details == {
        "conversation": str(posted.message.conversation_id),
        "message": str(posted.message.pk),
        "kinds": ["email"],
    }


@pytest.mark.django_db
def test_a_resend_of_a_stored_message_returns_it_without_a_second_confirmation(
    world: World,
) -> None:
    first = _post(world, "@jane_doe", client_id="c1", confirm_contact_details=True)
    again = _post(world, "@jane_doe", client_id="c1", confirm_contact_details=True)
    # Idempotency wins, even unconfirmed: the message is already sent.
    unconfirmed = _post(world, "@jane_doe", client_id="c1")
    assert again.message.pk == first.message.pk == unconfirmed.message.pk
    assert not again.created and not unconfirmed.created
    assert BoundaryConfirmation.objects.count() == 1
    assert AuditEntry.objects.filter(action="boundary.confirmed").count() == 1


@pytest.mark.django_db
def test_a_message_without_contact_details_needs_no_confirmation(world: World) -> None:
    _post(world, "See you at 10:30", confirm_contact_details=True)
    assert Message.objects.count() == 1
    assert BoundaryConfirmation.objects.count() == 0


@pytest.mark.django_db
def test_the_service_users_messages_are_never_held(world: World) -> None:
    person = world.own.participant.user
    posted = _post(world, "my number is 780 555 0123, @me, me@example.com", user=person)
    assert posted.created
    assert BoundaryConfirmation.objects.count() == 0


@pytest.mark.django_db
def test_a_non_member_gets_not_member_rather_than_a_warning(world: World) -> None:
    for user in (world.other_peer, world.supervisor):
        with pytest.raises(NotAMember):
            _post(world, "780 555 0123", user=user)
    assert _counts() == (0, 0, 0)


@pytest.mark.django_db
def test_the_programmes_crisis_line_and_sms_number_are_not_held(world: World) -> None:
    Programme.objects.filter(pk=world.programme.pk).update(
        crisis_resources={"en": f"Crisis line, any time: {CRISIS_LINE}."},
        sms_number=SERVICE_NUMBER,
    )
    _post(world, "Call the crisis line on (833) 456-4566 any time.")
    _post(world, "You can also text us on 780-555-0000.")
    assert Message.objects.count() == 2
    with pytest.raises(HeldForBoundaries):
        _post(world, "Or call me: 780-555-0123.")


@pytest.mark.django_db
def test_a_real_programme_keeps_its_default_crisis_text() -> None:
    programme = make_programme("crisis")
    assert programme_numbers(programme, region=REGION) == frozenset()
