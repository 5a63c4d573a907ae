"""Programmes, their arms and sites, staff roles and teams, enrolments and caseloads."""

from __future__ import annotations

import itertools
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from encryption.models import DataKey
from people.models import Participant


class Organisation(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)

    def __str__(self) -> str:
        return self.name


def _default_languages() -> list[str]:
    return ["en"]


def _default_block_multipliers() -> list[int]:
    return [1, 2]


def _default_escalation_minutes() -> list[int]:
    return [10, 20]


def validate_escalation_minutes(value: object) -> None:
    """Minutes after opening at which an unacknowledged alert goes to on-call level 1, 2, ...:
    whole minutes from 1 to a day, increasing."""
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 1440 for m in value)
        or any(later <= earlier for earlier, later in itertools.pairwise(value))
    ):
        raise ValidationError(
            "Give increasing whole minutes from 1 to 1440, one per on-call level, e.g. [10, 20]."
        )


def validate_e164(value: str) -> None:
    from people.services import strict_e164

    if value and strict_e164(value) is None:
        raise ValidationError("Enter the number in E.164 form, e.g. +17805550000.")


class Programme(models.Model):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="programmes"
    )
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    time_zone = models.CharField(max_length=64)
    languages = models.JSONField(default=_default_languages)
    # {"en": "If you are in danger call 911 ...", "fr": "..."}: programme text, not personal data.
    crisis_resources = models.JSONField(default=dict, blank=True)
    contact_text = models.JSONField(default=dict, blank=True)
    # The programme's own SMS number (E.164), if it has one: texts from unknown numbers to it
    # are routed to this programme's supervisors.
    sms_number = models.CharField(max_length=20, blank=True, validators=[validate_e164])
    retention_days = models.PositiveIntegerField(default=365 * 7)
    # Safety (DESIGN.md §3, data flow 6). Minutes after an alert opens at which, while nobody
    # has acknowledged it, the on-call supervisor of level 1, 2, ... is texted.
    alert_escalation_minutes = models.JSONField(
        default=_default_escalation_minutes, validators=[validate_escalation_minutes]
    )
    # At most one automatic crisis-resources reply per person in this many minutes.
    crisis_reply_interval_minutes = models.PositiveIntegerField(default=60)
    # At most one "your peer supporter is away" reply per person in this many minutes.
    away_reply_interval_minutes = models.PositiveIntegerField(default=8 * 60)
    pause_texts_during_alert = models.BooleanField(default=True)
    # Randomisation: strata are site (+ track when set); block sizes are multiples of the arm
    # weights' sum, the multiplier drawn at random per block so the block end can't be guessed.
    stratify_by_track = models.BooleanField(default=False)
    block_size_multipliers = models.JSONField(default=_default_block_multipliers)
    max_enrolments_per_stratum = models.PositiveIntegerField(null=True, blank=True)
    # Caseloads: new peer-support enrolments, and the waiting queue whenever peer supporters
    # come on duty, go to the least-loaded suitable peer supporter without a supervisor.
    auto_assign = models.BooleanField(default=True)
    data_key = models.ForeignKey(DataKey, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["sms_number"], condition=~Q(sms_number=""), name="unique_sms_number"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def crisis_text(self, language: str) -> str:
        resources: dict[str, str] = self.crisis_resources or {}
        return resources.get(language) or resources.get(self.languages[0], "")

    def contact(self, language: str) -> str:
        texts: dict[str, str] = self.contact_text or {}
        return texts.get(language) or texts.get(self.languages[0], "")


class Site(models.Model):
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="sites")
    code = models.SlugField()
    name = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="unique_site_code")
        ]

    def __str__(self) -> str:
        return f"{self.programme.slug}/{self.code}"


class Arm(models.Model):
    """A trial arm and the services it gives (DESIGN.md §1)."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="arms")
    code = models.SlugField()
    name = models.CharField(max_length=200)
    allocation_weight = models.PositiveSmallIntegerField(default=1)
    peer_support = models.BooleanField(default=False)
    supportive_texts = models.BooleanField(default=False)
    reminder_texts = models.BooleanField(default=False)
    surveys = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["programme", "code"], name="unique_arm_code")
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.programme.slug}/{self.code}"

    @property
    def services(self) -> dict[str, bool]:
        return {
            "peer_support": self.peer_support,
            "supportive_texts": self.supportive_texts,
            "reminder_texts": self.reminder_texts,
            "surveys": self.surveys,
        }


class Role(models.TextChoices):
    PEER_SUPPORTER = "peer_supporter", "Peer supporter"
    SUPERVISOR = "supervisor", "Supervisor"
    EVALUATOR = "evaluator", "Evaluator"
    ADMIN = "admin", "Programme admin"


class StaffRole(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles"
    )
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="staff_roles")
    role = models.CharField(max_length=16, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "programme", "role"], name="unique_staff_role")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} in {self.programme_id}"


class Team(models.Model):
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=200)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="supervised_teams"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="unique_team_name")
        ]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships"
    )
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            # One team per peer supporter per programme: their supervisor is unambiguous.
            models.UniqueConstraint(
                fields=["programme", "peer_supporter"], name="one_team_per_peer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.peer_supporter_id} in {self.team_id}"


def _default_working_hours() -> dict[str, list[str]]:
    weekdays = ["mon", "tue", "wed", "thu", "fri"]
    return {day: ["09:00", "17:00"] for day in weekdays}


class PeerSupporterProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="peer_profile"
    )
    capacity = models.PositiveSmallIntegerField(default=15)
    time_zone = models.CharField(max_length=64, default="UTC")
    # {"mon": ["09:00", "17:00"], ...} in `time_zone`; days absent are days off.
    working_hours = models.JSONField(default=_default_working_hours)
    # Matching for automatic assignment. Languages they support (codes such as "en"); empty:
    # any. Sites they cover; none among a programme's sites: every site of that programme.
    languages = models.JSONField(default=list, blank=True)
    sites = models.ManyToManyField(Site, blank=True, related_name="peer_supporters")

    def __str__(self) -> str:
        return f"Peer supporter profile {self.user_id}"

    def speaks(self, language: str) -> bool:
        return not self.languages or language in self.languages


class EnrolmentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    WITHDRAWN = "withdrawn", "Withdrawn"
    COMPLETED = "completed", "Completed"


class AgeBand(models.TextChoices):
    AGE_18_24 = "18-24", "18 to 24"
    AGE_25_34 = "25-34", "25 to 34"
    AGE_35_44 = "35-44", "35 to 44"
    AGE_45_54 = "45-54", "45 to 54"
    AGE_55_64 = "55-64", "55 to 64"
    AGE_65_PLUS = "65+", "65 and over"
    NOT_RECORDED = "not_recorded", "Not recorded"


class Gender(models.TextChoices):
    WOMAN = "woman", "Woman"
    MAN = "man", "Man"
    NON_BINARY = "non_binary", "Non-binary"
    ANOTHER = "another", "Another gender"
    NOT_STATED = "not_stated", "Prefers not to say"
    NOT_RECORDED = "not_recorded", "Not recorded"


class Enrolment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    participant = models.ForeignKey(
        Participant, on_delete=models.PROTECT, related_name="enrolments"
    )
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="enrolments")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="enrolments")
    arm = models.ForeignKey(Arm, on_delete=models.PROTECT, related_name="enrolments")
    track = models.SlugField(default="general")
    discharge_date = models.DateField(null=True, blank=True)
    enrolled_at = models.DateTimeField()
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ACTIVE
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    stratum = models.CharField(max_length=200)
    allocation_number = models.PositiveIntegerField()
    # Demographic quasi-identifiers for the anonymised evaluator export, recorded at enrolment
    # as coarse bands and categories (an age band, never a birth date) because the export
    # checks them for k-anonymity. Not shown in casework views.
    age_band = models.CharField(
        max_length=16, choices=AgeBand.choices, default=AgeBand.NOT_RECORDED
    )
    gender = models.CharField(max_length=16, choices=Gender.choices, default=Gender.NOT_RECORDED)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "programme"], name="one_enrolment_per_programme"
            ),
            models.UniqueConstraint(
                fields=["programme", "stratum", "allocation_number"], name="unique_allocation_slot"
            ),
        ]

    def __str__(self) -> str:
        return f"Enrolment {self.id}"


class RandomisationBlock(models.Model):
    """The current permuted block of one stratum. Its sequence is ciphertext and no interface
    exposes it: allocation is concealed until the moment of enrolment."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="+")
    stratum = models.CharField(max_length=200)
    number = models.PositiveIntegerField()
    size = models.PositiveSmallIntegerField()
    used = models.PositiveSmallIntegerField(default=0)
    sequence_ciphertext = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "stratum", "number"], name="unique_block_number"
            )
        ]

    def __str__(self) -> str:
        return f"Block {self.number} of {self.stratum}"


class HandoffReason(models.TextChoices):
    INITIAL = "initial", "First assignment"
    LEAVE = "leave", "Peer supporter on leave"
    CAPACITY = "capacity", "Rebalancing caseloads"
    REQUEST = "request", "At the person's request"
    FIT = "fit", "Better fit (language, culture, experience)"
    ENDED = "ended", "Peer supporter left the programme"
    OTHER = "other", "Other"


class CaseloadAssignment(models.Model):
    """Who supports whom, since when. A handoff ends one row and starts the next."""

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="assignments")
    peer_supporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=16, choices=HandoffReason.choices)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment"],
                condition=Q(ended_at__isnull=True),
                name="one_active_assignment",
            )
        ]
        indexes = [models.Index(fields=["peer_supporter", "ended_at"])]

    def __str__(self) -> str:
        return f"Assignment {self.id}"


class PeerChangeReason(models.TextChoices):
    """Why a person asks for another peer supporter: codes only, never free text, because
    what they would write about a named staff member is theirs to say in the chat."""

    NOT_A_GOOD_FIT = "not_a_good_fit", "Not a good fit"
    LANGUAGE = "language", "Language"
    GENDER = "gender", "Gender"
    CULTURE = "culture", "Culture or background"
    AVAILABILITY = "availability", "Availability"
    OTHER = "other", "Other"


class PeerChangeStatus(models.TextChoices):
    OPEN = "open", "Open"
    HANDLED = "handled", "Handed off"
    DECLINED = "declined", "Declined"


class PeerChangeRequest(models.Model):
    """A person asked for a different peer supporter. A supervisor closes it by handing off
    (reason `request`) or by declining."""

    enrolment = models.ForeignKey(
        Enrolment, on_delete=models.CASCADE, related_name="peer_change_requests"
    )
    # The assignment the person asked to leave, and the handoff that answered it. Both belong
    # to the same enrolment: erasing it erases them all together.
    assignment = models.ForeignKey(
        CaseloadAssignment, on_delete=models.CASCADE, related_name="change_requests"
    )
    handoff = models.ForeignKey(
        CaseloadAssignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=PeerChangeReason.choices, blank=True)
    status = models.CharField(
        max_length=16, choices=PeerChangeStatus.choices, default=PeerChangeStatus.OPEN
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment"],
                condition=Q(status="open"),
                name="one_open_peer_change_request",
            )
        ]
        indexes = [models.Index(fields=["status", "requested_at"])]

    def __str__(self) -> str:
        return f"Peer change request {self.id}"
