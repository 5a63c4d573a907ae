"""Supportive text programmes (DESIGN.md §3, data flow 4): message libraries first.

A library holds short texts by track (general, depression, ...), category (supportive,
reminder) and language, in order. Only approved messages (approver and approval date set)
are ever sent: a programme approves its own clinical content.

Then the sends: a programme's schedule, reminders per person, and per stream of texts one
pending row with the next send's UTC due time, claimed by the dispatcher (dispatch.py)."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.db.models import Q


class MessageCategory(models.TextChoices):
    SUPPORTIVE = "supportive", "Supportive text"
    REMINDER = "reminder", "Reminder (appointments, medication)"


class MessageLibrary(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    # Shipped samples, written for peerlink: to be replaced by clinically approved content.
    is_sample = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "message libraries"

    def __str__(self) -> str:
        return self.name


class LibraryMessage(models.Model):
    """One text, kept by its key within the library: a re-import updates it in place."""

    library = models.ForeignKey(MessageLibrary, on_delete=models.CASCADE, related_name="messages")
    key = models.SlugField(max_length=80)
    track = models.SlugField(max_length=40)
    category = models.CharField(max_length=16, choices=MessageCategory.choices)
    language = models.CharField(max_length=16)
    position = models.PositiveIntegerField()
    text = models.TextField(max_length=1600)
    author = models.CharField(max_length=200)
    approver = models.CharField(max_length=200, blank=True)
    approved_on = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["library", "key"], name="unique_library_message_key"),
            models.UniqueConstraint(
                fields=["library", "track", "category", "language", "position"],
                name="unique_library_message_position",
            ),
            # Approved means both who and when.
            models.CheckConstraint(
                condition=Q(approver="", approved_on__isnull=True)
                | (~Q(approver="") & Q(approved_on__isnull=False)),
                name="library_message_approval_complete",
            ),
        ]
        indexes = [models.Index(fields=["library", "track", "category", "language", "position"])]
        ordering = ["library", "track", "category", "language", "position"]

    def __str__(self) -> str:
        return f"{self.library_id}/{self.key}"

    @property
    def is_approved(self) -> bool:
        return bool(self.approver) and self.approved_on is not None


def _default_send_times() -> list[str]:
    return ["10:00"]


class TrackRule(models.TextChoices):
    ENROLMENT = "enrolment", "By the enrolment's track (general where the library has none)"
    GENERAL = "general", "Everyone gets the general track"


class WhenExhausted(models.TextChoices):
    WRAP = "wrap", "Start the track again from its first message"
    STOP = "stop", "Stop sending"


class ProgrammeSchedule(models.Model):
    """How a programme sends its daily supportive texts. Who gets them is the arm's business
    (`Arm.supportive_texts`, `Arm.reminder_texts`; DESIGN.md §1)."""

    programme = models.OneToOneField(
        "programmes.Programme", on_delete=models.CASCADE, related_name="text_schedule"
    )
    library = models.ForeignKey(MessageLibrary, on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(default=True)
    # Days after the enrolment's local date of the first text (1: the day after enrolment).
    start_offset_days = models.PositiveSmallIntegerField(default=1)
    duration_days = models.PositiveSmallIntegerField(default=180)
    # One or two local times ("HH:MM"), in the person's own time zone.
    send_times = models.JSONField(default=_default_send_times)
    # The programme's quiet hours, on top of each person's own: no text between these times.
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    track_rule = models.CharField(
        max_length=16, choices=TrackRule.choices, default=TrackRule.ENROLMENT
    )
    when_exhausted = models.CharField(
        max_length=8, choices=WhenExhausted.choices, default=WhenExhausted.WRAP
    )
    # A send missed by more than this (downtime) is skipped, not sent late.
    staleness_minutes = models.PositiveIntegerField(default=180)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Text schedule of {self.programme_id}"


class Recurrence(models.TextChoices):
    ONCE = "once", "Once"
    DAILY = "daily", "Every day"
    WEEKLY = "weekly", "Every week"


class ReminderKind(models.TextChoices):
    APPOINTMENT = "appointment", "Appointment"
    MEDICATION = "medication", "Medication"
    OTHER = "other", "Other"


class Reminder(models.Model):
    """A reminder for one person, written by staff: its text is ciphertext under the
    conversation's data key (it may name a clinic or a medicine)."""

    enrolment = models.ForeignKey(
        "programmes.Enrolment", on_delete=models.CASCADE, related_name="reminders"
    )
    kind = models.CharField(max_length=16, choices=ReminderKind.choices)
    body_ciphertext = models.BinaryField()
    local_time = models.TimeField()
    first_date = models.DateField()
    recurrence = models.CharField(max_length=8, choices=Recurrence.choices)
    last_date = models.DateField()
    created_by = models.ForeignKey(
        "people.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Reminder {self.pk}"


class Stream(models.TextChoices):
    SUPPORTIVE = "supportive", "Daily supportive texts"
    REMINDER = "reminder", "A reminder"


class SendState(models.TextChoices):
    SCHEDULED = "scheduled", "Next send planned"
    PAUSED = "paused", "Paused by staff"
    STOPPED = "stopped", "Stopped"
    FINISHED = "finished", "Finished"


class StopReason(models.TextChoices):
    NONE = "", "-"
    OPTED_OUT = "opted_out", "The person opted out of texts (STOP)"
    ENROLMENT_ENDED = "enrolment_ended", "The enrolment ended"
    NOT_IN_ARM = "not_in_arm", "The person's arm does not include these texts"
    SCHEDULE_OFF = "schedule_off", "The programme's text schedule is off"
    NO_CONTENT = "no_content", "No approved message for the person's track and language"
    EXHAUSTED = "exhausted", "The track ran out (the programme stops, not wraps)"
    CANCELLED = "cancelled", "The reminder was cancelled"


class PendingSend(models.Model):
    """One stream of texts to one person: the supportive stream of an enrolment, or one
    reminder. Holds only the next send (its UTC due time and sequence number): the dispatcher
    claims due rows, sends, and computes the next here (DESIGN.md §3, data flow 4)."""

    enrolment = models.ForeignKey(
        "programmes.Enrolment", on_delete=models.CASCADE, related_name="pending_sends"
    )
    stream = models.CharField(max_length=16, choices=Stream.choices)
    reminder = models.OneToOneField(
        Reminder, null=True, blank=True, on_delete=models.CASCADE, related_name="pending_send"
    )
    state = models.CharField(max_length=16, choices=SendState.choices)
    stop_reason = models.CharField(max_length=16, choices=StopReason.choices, blank=True)
    # The next send: its slot (local date and index of the send time), when it is due and
    # when it goes stale. Null unless scheduled.
    due_at = models.DateTimeField(null=True, blank=True)
    stale_at = models.DateTimeField(null=True, blank=True)
    slot_date = models.DateField(null=True, blank=True)
    slot_index = models.PositiveSmallIntegerField(null=True, blank=True)
    # The last slot handled (sent or skipped): a replan never hands it out again.
    done_date = models.DateField(null=True, blank=True)
    done_index = models.PositiveSmallIntegerField(null=True, blank=True)
    seq = models.PositiveIntegerField(default=1)
    # Supportive: how many texts have been sent; the next is the one after, in position order.
    sent_count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment"],
                condition=Q(stream="supportive"),
                name="one_supportive_stream_per_enrolment",
            ),
            models.CheckConstraint(
                condition=Q(stream="supportive", reminder__isnull=True)
                | Q(stream="reminder", reminder__isnull=False),
                name="pending_send_stream_matches_reminder",
            ),
            models.CheckConstraint(
                condition=~Q(state="scheduled") | Q(due_at__isnull=False),
                name="scheduled_send_has_due_time",
            ),
        ]
        indexes = [
            # The dispatcher's claim: due rows in due order, scheduled ones only.
            models.Index(
                fields=["due_at"], condition=Q(state="scheduled"), name="pending_send_due"
            ),
        ]

    def __str__(self) -> str:
        return f"Pending send {self.pk} ({self.stream})"


class SendOutcome(models.TextChoices):
    SENT = "sent", "Sent"
    STALE = "stale", "Skipped: too late (missed by more than the staleness limit)"
    QUIET_HOURS = "quiet_hours", "Skipped: it would have gone in quiet hours"
    ALERT_PAUSE = "alert_pause", "Skipped: a risk alert about the person is open"
    ENROLMENT_PAUSED = "enrolment_paused", "Skipped: the enrolment is paused"
    NO_SMS_CONSENT = "no_sms_consent", "Skipped: no thread, and no consent to texts by SMS"


class SendRecord(models.Model):
    """What became of each sequence number of a stream: the dispatcher's idempotency key
    (unique on stream and sequence number) and the record of the contact dose."""

    pending_send = models.ForeignKey(PendingSend, on_delete=models.CASCADE, related_name="records")
    seq = models.PositiveIntegerField()
    slot_date = models.DateField()
    slot_index = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=SendOutcome.choices)
    message = models.OneToOneField(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    library_message = models.ForeignKey(
        LibraryMessage, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pending_send", "seq"], name="one_record_per_send")
        ]

    def __str__(self) -> str:
        return f"Send {self.pending_send_id}#{self.seq} {self.outcome}"
