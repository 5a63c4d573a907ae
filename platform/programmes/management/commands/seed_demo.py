"""Create the demo programme (slug `demo`), its staff and participants. Safe to run again."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from messaging.models import MessageChannel, SenderRole
from messaging.services import open_conversation, post_message
from outcomes.demo import demo_surveys_summary, seed_demo_surveys
from people.models import Channel, User
from people.selectors import participant_profile
from programmes import services
from programmes.models import (
    AgeBand,
    Enrolment,
    Gender,
    HandoffReason,
    Organisation,
    Programme,
    Role,
    Site,
)
from scheduling.demo import demo_texts_summary, seed_demo_texts
from staffing.availability import WEEKDAYS
from staffing.services import add_on_call_shift, set_staff_phone, set_working_hours

DEMO_PASSWORD = "peerlink-demo"  # noqa: S105 - printed for the local demo; production has no seed
DEMO_SLUG = "demo"

STAFF = (
    ("demo-admin", "Alex", "Admin", Role.ADMIN),
    ("demo-supervisor", "Sam", "Supervisor", Role.SUPERVISOR),
    ("demo-peer1", "Jordan", "Peer", Role.PEER_SUPPORTER),
    ("demo-peer2", "Riley", "Peer", Role.PEER_SUPPORTER),
    ("demo-evaluator", "Eve", "Evaluator", Role.EVALUATOR),
)

# Fictional people with numbers from the 555-01XX range reserved for fiction.
PARTICIPANTS = (
    ("Casey Demo", "+17805550101", "en", "edmonton", Channel.WEB),
    ("Morgan Demo", "+17805550102", "en", "edmonton", Channel.SMS),
    ("Taylor Demo", "+17805550103", "fr", "edmonton", Channel.SMS),
    ("Jamie Demo", "+14035550104", "en", "calgary", Channel.WEB),
    ("Quinn Demo", "+14035550105", "en", "calgary", Channel.SMS),
    ("Avery Demo", "+14035550106", "en", "calgary", Channel.SMS),
    ("Rowan Demo", "+17805550107", "en", "edmonton", Channel.WEB),
    ("Skyler Demo", "+14035550108", "fr", "calgary", Channel.SMS),
)
# Their age band and gender, recorded at enrolment for the anonymised export (same order).
DEMOGRAPHICS = (
    (AgeBand.AGE_25_34, Gender.WOMAN),
    (AgeBand.AGE_35_44, Gender.MAN),
    (AgeBand.AGE_18_24, Gender.NON_BINARY),
    (AgeBand.AGE_45_54, Gender.WOMAN),
    (AgeBand.AGE_55_64, Gender.MAN),
    (AgeBand.AGE_25_34, Gender.NOT_STATED),
    (AgeBand.AGE_65_PLUS, Gender.MAN),
    (AgeBand.NOT_RECORDED, Gender.WOMAN),
)

# The demo programme's (fictional) SMS number: `simulate_sms` texts it by default.
SERVICE_NUMBER = "+17805550000"
# The demo supervisor's (fictional) escalation number.
SUPERVISOR_PHONE = "+17805550190"

# demo-peer1 works long days every day; demo-peer2 office hours, so the demo shows both.
DEMO_HOURS = {
    "demo-peer1": {day: ["07:00", "23:00"] for day in WEEKDAYS},
    "demo-peer2": {day: ["09:00", "17:00"] for day in WEEKDAYS[:5]},
}

DEMO_GREETING = (
    "Hi, I'm your peer supporter. I've been where you are. How are the first days at home going?"
)
DEMO_REPLY = "Thanks for reaching out. Some days are better than others."

CRISIS = {
    "en": "If you are in danger now, call 911. For crisis support any time, call or text 988.",
    "fr": "En cas de danger immédiat, composez le 911. Soutien en cas de crise : appelez "
    "ou textez le 988, à toute heure.",
}
CONTACT = {
    "en": "peerlink demo programme. Your peer supporter replies during working hours.",
    "fr": "Programme de démonstration peerlink. Votre pair aidant répond aux heures de travail.",
}


class Command(BaseCommand):
    help = "Seed the demo programme `demo` with staff and fictional participants (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            if not Programme.objects.filter(slug=DEMO_SLUG).exists():
                self._seed()
                self.stdout.write(self.style.SUCCESS("Demo programme created."))
            else:
                self.stdout.write("Demo programme already present.")
        site = settings.PEERLINK_PUBLIC_URL.rstrip("/")
        self.stdout.write(f"\nDemo logins (password for all: {DEMO_PASSWORD}):")
        self.stdout.write(f"  staff: open {site}/staff/signin/ and sign in as")
        for username, _first, _last, role in STAFF:
            self.stdout.write(f"    {username:<16} {role}")
        # Web chat first; a person on SMS can chat on the web too.
        chatter = self._demo_number(Channel.WEB)
        if chatter:
            self.stdout.write(
                f"  service user: open {site}/signin/ and sign in with {chatter}; "
                "the code is printed on this console."
            )
        for line in demo_texts_summary(DEMO_SLUG):
            self.stdout.write(line)
        for line in demo_surveys_summary(DEMO_SLUG):
            self.stdout.write(line)
        texter = self._demo_number(Channel.SMS, only=True)
        if texter:
            self.stdout.write(
                "  text in as a demo service user with a peer supporter (another terminal):\n"
                f'    .venv/bin/python manage.py simulate_sms --from {texter} "Hello"\n'
                "  texts to people on SMS are printed on this console, never sent.\n"
            )

    @staticmethod
    def _demo_number(channel: str, *, only: bool = False) -> str | None:
        """A demo number with a peer supporter (the arms were drawn at random): one on
        `channel` first, or only one on it."""
        enrolments = Enrolment.objects.filter(programme__slug=DEMO_SLUG, conversation__isnull=False)
        if only:
            enrolments = enrolments.filter(participant__preferred_channel=channel)
        enrolment = (
            enrolments.select_related("participant__data_key")
            .order_by(
                Case(When(participant__preferred_channel=channel, then=0), default=1),
                "enrolled_at",
            )
            .first()
        )
        return participant_profile(enrolment.participant).phone if enrolment else None

    def _seed(self) -> None:
        organisation, _ = Organisation.objects.get_or_create(
            slug="demo-health", defaults={"name": "Demo Health"}
        )
        programme = services.create_programme(
            organisation=organisation,
            slug=DEMO_SLUG,
            name="Demo peer support programme",
            time_zone="America/Edmonton",
            languages=["en", "fr"],
            crisis_resources=CRISIS,
            contact_text=CONTACT,
            sms_number=SERVICE_NUMBER,
            sites=[("edmonton", "Edmonton"), ("calgary", "Calgary")],
            # Off while seeding, so that the demo caseloads don't depend on the hour it runs.
            auto_assign=False,
        )
        users: dict[str, User] = {}
        for username, first, last, role in STAFF:
            user = User.objects.create_user(
                username=username,
                password=DEMO_PASSWORD,
                first_name=first,
                last_name=last,
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            services.grant_role(user=user, programme=programme, role=role)
            users[username] = user
        # On duty while seeding, so that the opening exchange gets no "away" reply whatever
        # the hour; their real hours are set at the end (_availability).
        for username in DEMO_HOURS:
            set_working_hours(
                user=users[username],
                working_hours={day: ["00:00", "24:00"] for day in WEEKDAYS},
                time_zone=programme.time_zone,
                changed_by=None,
            )
        team = services.create_team(
            programme=programme, name="Team A", supervisor=users["demo-supervisor"]
        )
        peers = [users["demo-peer1"], users["demo-peer2"]]
        for peer in peers:
            services.add_to_team(team=team, peer_supporter=peer)
        admin = users["demo-admin"]
        today = timezone.localdate()
        demo_people = zip(PARTICIPANTS, DEMOGRAPHICS, strict=True)
        for number, (person, (age_band, gender)) in enumerate(demo_people):
            name, phone, language, site_code, channel = person
            enrolment = services.enrol_participant(
                programme=programme,
                site=Site.objects.get(programme=programme, code=site_code),
                name=name,
                phone=phone,
                language=language,
                time_zone="America/Edmonton",
                preferred_channel=channel,
                enrolled_by=admin,
                discharge_date=today - dt.timedelta(days=number + 1),
                sms_consent_version="demo-1",
                research_consent_version="demo-1",
                age_band=age_band,
                gender=gender,
            )
            self._assign(enrolment, peers[number % len(peers)], admin)
        programme.auto_assign = True
        programme.save(update_fields=["auto_assign"])
        self._availability(programme, users)
        seed_demo_texts(programme=programme, admin=admin)
        seed_demo_surveys(programme=programme, admin=admin)

    @staticmethod
    def _availability(programme: Programme, users: dict[str, User]) -> None:
        """Working hours in the programme's time zone, and the supervisor on call for a year
        with a fictional escalation number: a demo alert escalates on the console."""
        for username, hours in DEMO_HOURS.items():
            set_working_hours(
                user=users[username],
                working_hours=hours,
                time_zone=programme.time_zone,
                changed_by=None,
            )
        supervisor = users["demo-supervisor"]
        now = timezone.now()
        add_on_call_shift(
            programme=programme,
            supervisor=supervisor,
            starts_at=now,
            ends_at=now + dt.timedelta(days=365),
            created_by=None,
        )
        set_staff_phone(user=supervisor, phone=SUPERVISOR_PHONE, changed_by=None)

    @staticmethod
    def _assign(enrolment: Enrolment, peer: User, by: User) -> None:
        if not enrolment.arm.peer_support:
            return
        services.assign_peer_supporter(
            enrolment=enrolment, peer_supporter=peer, assigned_by=by, reason=HandoffReason.INITIAL
        )
        conversation = open_conversation(enrolment=enrolment)
        assert conversation is not None
        participant = enrolment.participant
        opening = (
            (peer, SenderRole.PEER_SUPPORTER, MessageChannel.WEB, DEMO_GREETING),
            (participant.user, SenderRole.PARTICIPANT, participant.preferred_channel, DEMO_REPLY),
        )
        for number, (sender, role, channel, body) in enumerate(opening):
            post_message(
                conversation_id=conversation.pk,
                sender=sender,
                sender_role=role,
                channel=channel,
                body=body,
                client_id=f"demo-{number}",
            )
