"""Outcome surveys (DESIGN.md §3, data flow 5).

An instrument version is data: its definition is stored as imported, and never changes once
stored, so that every answer ever given to it keeps its meaning. A programme's survey
schedule names timepoints and the instruments each asks; each (enrolment, timepoint,
instrument) is one session, with the time of its next action for the survey dispatcher
(outcomes/dispatch.py), its answers (values, never the words written), its texts (prompts,
whose words are written at send time), its web link, and its score."""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models


class Instrument(models.Model):
    """One version of a questionnaire (outcomes/instrument_format.py parses `definition`)."""

    slug = models.SlugField(max_length=40)
    version = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    languages = models.JSONField()
    licence = models.TextField(blank=True)
    citation = models.TextField(blank=True)
    definition = models.JSONField()
    # sha256 of the canonical definition: a re-import of the same content is a no-op, a
    # different one under the same version is refused.
    content_hash = models.CharField(max_length=64)
    built_in = models.BooleanField(default=False)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["slug", "version"], name="one_instrument_version"),
        ]
        ordering = ["slug", "version"]

    def __str__(self) -> str:
        return f"{self.slug} v{self.version}"


def _default_send_time() -> dt.time:
    return dt.time(11, 0)


class ChannelRule(models.TextChoices):
    PREFERENCE = "preference", "By the person's preferred channel"
    SMS = "sms", "Always an SMS session"
    WEB = "web", "Always a web link"


class SurveyChannel(models.TextChoices):
    SMS = "sms", "SMS, one question at a time"
    WEB = "web", "A web link to a form"


class SurveySchedule(models.Model):
    """When a programme asks its participants to answer its instruments (DESIGN.md §3, data
    flow 5). The timepoints say when and what; this says at what local time, how often to
    remind, and by which channel. Who is asked is the arm's business (`Arm.surveys`)."""

    programme = models.OneToOneField(
        "programmes.Programme", on_delete=models.CASCADE, related_name="survey_schedule"
    )
    active = models.BooleanField(default=True)
    # The local time, in each person's own time zone, at which a timepoint opens.
    send_time = models.TimeField(default=_default_send_time)
    # The programme's quiet hours, on top of each person's own: no survey text between these.
    quiet_hours_start = models.TimeField(default=dt.time(21, 0))
    quiet_hours_end = models.TimeField(default=dt.time(8, 0))
    reminder_count = models.PositiveSmallIntegerField(default=2)
    reminder_interval_hours = models.PositiveSmallIntegerField(default=72)
    channel_rule = models.CharField(
        max_length=16, choices=ChannelRule.choices, default=ChannelRule.PREFERENCE
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Survey schedule of {self.programme_id}"


class SurveyTimepoint(models.Model):
    """One follow-up point: `offset_days` after the enrolment's local date, open for
    `window_days`, asking the instruments named (by slug, newest version at opening)."""

    schedule = models.ForeignKey(
        SurveySchedule, on_delete=models.CASCADE, related_name="timepoints"
    )
    code = models.SlugField(max_length=40)
    label = models.CharField(max_length=100)
    offset_days = models.PositiveSmallIntegerField()
    window_days = models.PositiveSmallIntegerField(default=14)
    instruments = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["schedule", "code"], name="unique_timepoint_code"),
            models.CheckConstraint(
                condition=models.Q(window_days__gte=1), name="timepoint_window_at_least_a_day"
            ),
        ]
        ordering = ["schedule", "offset_days", "code"]

    def __str__(self) -> str:
        return f"{self.schedule_id}/{self.code}"


class SessionState(models.TextChoices):
    PLANNED = "planned", "Planned: the window has not opened"
    INVITED = "invited", "Invited, not started"
    IN_PROGRESS = "in_progress", "Started"
    PAUSED = "paused", "Paused after answers it could not read (a reminder follows)"
    COMPLETED = "completed", "Completed"
    EXPIRED = "expired", "The window closed first"
    STOPPED = "stopped", "Stopped"


OPEN_STATES = (SessionState.INVITED, SessionState.IN_PROGRESS, SessionState.PAUSED)
UNFINISHED_STATES = (SessionState.PLANNED, *OPEN_STATES)


class SessionStopReason(models.TextChoices):
    NONE = "", "-"
    OPTED_OUT = "opted_out", "The person opted out of SMS (STOP)"
    ENROLMENT_ENDED = "enrolment_ended", "The enrolment ended"
    NOT_IN_ARM = "not_in_arm", "The person's arm has no surveys"
    SCHEDULE_OFF = "schedule_off", "The programme's survey schedule is off"


class SurveySession(models.Model):
    """One instrument asked of one person at one timepoint: the natural key is (enrolment,
    timepoint, instrument slug). `next_action_at` is when the survey dispatcher next looks at
    it (to invite, remind or expire): one row per session, never a Celery ETA task."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    enrolment = models.ForeignKey(
        "programmes.Enrolment", on_delete=models.CASCADE, related_name="survey_sessions"
    )
    timepoint = models.ForeignKey(
        SurveyTimepoint, on_delete=models.PROTECT, related_name="sessions"
    )
    instrument_slug = models.SlugField(max_length=40)
    # The version asked: chosen when the session is invited (the newest then stored).
    instrument = models.ForeignKey(
        Instrument, null=True, blank=True, on_delete=models.PROTECT, related_name="sessions"
    )
    position = models.PositiveSmallIntegerField(default=0)  # order within the timepoint
    channel = models.CharField(max_length=8, choices=SurveyChannel.choices, blank=True)
    language = models.CharField(max_length=16, blank=True)
    state = models.CharField(max_length=16, choices=SessionState.choices)
    stop_reason = models.CharField(max_length=16, choices=SessionStopReason.choices, blank=True)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    next_action_at = models.DateTimeField(null=True, blank=True)
    # SMS: the item waiting for an answer, and how many answers to it could not be read.
    current_item = models.CharField(max_length=40, blank=True)
    invalid_answers = models.PositiveSmallIntegerField(default=0)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    # Numbers the prompts (SurveyPrompt.seq): each text of the session is written once.
    prompt_seq = models.PositiveIntegerField(default=0)
    invited_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment", "timepoint", "instrument_slug"], name="one_session_per_ask"
            ),
            models.CheckConstraint(
                condition=~models.Q(state__in=[s.value for s in UNFINISHED_STATES])
                | models.Q(next_action_at__isnull=False),
                name="unfinished_session_has_next_action",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_action_at"],
                condition=models.Q(state__in=[s.value for s in UNFINISHED_STATES]),
                name="survey_session_due",
            ),
        ]

    def __str__(self) -> str:
        return f"Survey session {self.pk}"


class AnswerSource(models.TextChoices):
    SMS = "sms", "SMS"
    WEB = "web", "Web form"


class SurveyAnswer(models.Model):
    """One item's answer: an option's value (never the words the person wrote)."""

    session = models.ForeignKey(SurveySession, on_delete=models.CASCADE, related_name="answers")
    item_key = models.CharField(max_length=40)
    value = models.SmallIntegerField()
    source = models.CharField(max_length=8, choices=AnswerSource.choices)
    answered_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "item_key"], name="one_answer_per_item")
        ]

    def __str__(self) -> str:
        return f"Answer {self.session_id}/{self.item_key}"


class SurveyResult(models.Model):
    """A session's score, written when it completes, or when it expires with answers (marked
    incomplete): total, subscales, band, as outcomes/scoring.py computes them."""

    session = models.OneToOneField(SurveySession, on_delete=models.CASCADE, related_name="result")
    total = models.FloatField(null=True, blank=True)
    band = models.CharField(max_length=100, blank=True)
    subscales = models.JSONField(default=dict)
    answered = models.PositiveSmallIntegerField()
    complete = models.BooleanField()
    scored_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Result of {self.session_id}"


class PromptKind(models.TextChoices):
    INTRO = "intro", "Introduction and the first question"
    ITEM = "item", "The next question"
    REASK = "reask", "The question again, with how to answer"
    PAUSED = "paused", "Paused after answers it could not read"
    REMINDER = "reminder", "Reminder, with the question waiting"
    LINK = "link", "Invitation with the web link"
    LINK_REMINDER = "link_reminder", "Reminder with the web link"
    THANKS = "thanks", "Thanks at the end"


class SurveyPrompt(models.Model):
    """One text of a session to the person, unique on (session, seq). It holds no text: the
    words are the instrument's and the programme's, written at send time
    (outcomes/prompts.py), so nothing personal waits in the outbox."""

    session = models.ForeignKey(SurveySession, on_delete=models.CASCADE, related_name="prompts")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=PromptKind.choices)
    item_key = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="one_prompt_per_seq")
        ]

    def __str__(self) -> str:
        return f"Prompt {self.session_id}#{self.seq} {self.kind}"


class SurveyLink(models.Model):
    """The web link of a web session: its id is random and signed into the URL
    (outcomes/links.py); it works until the form is submitted or the window closes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.OneToOneField(SurveySession, on_delete=models.CASCADE, related_name="link")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Survey link {self.pk}"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    READY = "ready", "Ready to download"
    FAILED = "failed", "Failed"
    DOWNLOADED = "downloaded", "Downloaded (the file is gone)"
    EXPIRED = "expired", "Expired (the file is gone)"


class ExportJob(models.Model):
    """One evaluator export run in the background (outcomes/export/jobs.py). Its zip lives
    in PEERLINK_EXPORT_DIR under `archive_name` from `ready` until its one download."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    programme = models.ForeignKey(
        "programmes.Programme", on_delete=models.CASCADE, related_name="export_jobs"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    k = models.PositiveIntegerField()
    quasi_identifiers = models.JSONField()
    redcap = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.QUEUED)
    error_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    downloaded_at = models.DateTimeField(null=True, blank=True)
    participants = models.PositiveIntegerField(null=True, blank=True)
    # What the zip holds, as audited: [{name, rows, sha256, bytes}].
    files = models.JSONField(default=list, blank=True)
    # Relative to PEERLINK_EXPORT_DIR, so that moving the folder moves every export.
    archive_name = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["programme", "-created_at"], name="export_job_newest"),
        ]

    def __str__(self) -> str:
        return f"Export job {self.pk}"
