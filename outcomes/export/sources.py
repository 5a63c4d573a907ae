"""The rows of each exported table, streamed from the database.

Every source is ordered by one key per person: the MD5 of the person's id salted with a
random value of this export (`order_key`, never stored). Ordered by the id itself, row i of
the participants table would be the i-th of the programme's people sorted by id, and
whoever reads the database could re-identify the export without its key. The same key
orders every source, so one person's rows of each come together (the engagement merge
relies on it).

Days are counted between local calendar dates in the person's time zone, as the survey
schedule counts them (outcomes/planning.py): day 0 is the day of enrolment, and a survey
answered on its timepoint's target day is 0 days from target.

Ids leave the database as text (`Cast`): a uuid object costs a microsecond to build, and a
million of them is a second of the export's budget. Item answers come aggregated per session
by the database (one JSON object per row), so that a session's row needs no second query.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import json
import statistics
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db.models import (
    Aggregate,
    CharField,
    Count,
    Exists,
    OuterRef,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import MD5, Cast, Concat

from messaging.models import (
    DeliveryStatus,
    Message,
    MessageChannel,
    OutboxPurpose,
    OutboxStatus,
    SenderRole,
    SmsOutbox,
)
from messaging.risk.models import RiskAlert
from outcomes.models import SessionState, SurveyAnswer, SurveySession
from peerlink.streaming import stream_values
from people.models import ConsentKind, ConsentRecord
from programmes.models import Enrolment, Programme
from scheduling.timing import zone

CHUNK = 5_000
STAFF_ROLES = (SenderRole.PEER_SUPPORTER, SenderRole.SUPERVISOR)

# Where each quasi-identifier lives on an enrolment.
QUASI_IDENTIFIER_FIELDS = {
    "site": "site__code",
    "age_band": "age_band",
    "gender": "gender",
    "track": "track",
    "arm": "arm__code",
}


class _ItemValues(Aggregate):
    """{item_key: value} of a session's answers as JSON text. No portable JSON aggregate in
    Django: PostgreSQL and SQLite each have their own."""

    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            function="json_object_agg",
            template="%(function)s(%(expressions)s)::text",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, function="json_group_object", **extra)


def _text(field: str) -> Cast:
    return Cast(field, output_field=CharField())


class _OrderKey(MD5):
    """MD5 as hex text, compared byte by byte as Python compares it (the engagement merge
    relies on the database's order being Python's): SQLite's default collation does,
    PostgreSQL's is the database's locale unless told "C"."""

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        sql, params = super().as_sql(compiler, connection, **extra)
        return f'({sql}) COLLATE "C"', params


def order_key(participant_field: str, salt: str) -> MD5:
    """The order of one export's rows: per person, unrelated to their id (module doc)."""
    return _OrderKey(Concat(Value(salt), Cast(participant_field, output_field=CharField())))


def local_days(later: dt.datetime | None, start: dt.datetime, time_zone: str) -> int | None:
    """Days from `start`'s local date to `later`'s, in the person's time zone: time in the
    export is an offset from enrolment, never a date."""
    if later is None:
        return None
    tz = zone(time_zone)
    return max(0, (later.astimezone(tz).date() - start.astimezone(tz).date()).days)


def _week(at: dt.datetime, enrolled_at: dt.datetime, time_zone: str) -> int:
    return (local_days(at, enrolled_at, time_zone) or 0) // 7


def exported_enrolments(programme: Programme) -> QuerySet[Enrolment]:
    """The programme's enrolments whose person holds research consent for it. The
    programme's own record decides where there is one (a withdrawal from this study is not
    overridden by a general consent); otherwise an active general consent counts."""
    research = ConsentRecord.objects.filter(
        participant=OuterRef("participant"), kind=ConsentKind.RESEARCH
    )
    own = research.filter(programme=programme)
    general = research.filter(programme__isnull=True)
    return Enrolment.objects.filter(programme=programme).filter(
        Exists(own.filter(withdrawn_at__isnull=True))
        | (~Exists(own) & Exists(general.filter(withdrawn_at__isnull=True)))
    )


def quasi_identifier_counts(
    enrolments: QuerySet[Enrolment], names: Sequence[str]
) -> dict[tuple[str, ...], int]:
    fields = [QUASI_IDENTIFIER_FIELDS[name] for name in names]
    grouped = enrolments.order_by().values(*fields).annotate(n=Count("pk"))
    return {tuple(row[field] for field in fields): row["n"] for row in grouped}


@dataclasses.dataclass(frozen=True)
class ParticipantRow:
    participant_id: str
    arm: str
    site: str
    age_band: str
    gender: str
    track: str
    status: str
    exit_day: int | None
    opt_out_day: int | None
    weeks_observed: int


def participant_rows(
    enrolments: QuerySet[Enrolment], *, now: dt.datetime, salt: str
) -> Iterator[ParticipantRow]:
    # A grant of a new version closes the old one at the same instant: that is not an
    # opt-out.
    superseded = ConsentRecord.objects.filter(
        participant=OuterRef("participant"),
        kind=ConsentKind.SMS,
        granted_at=OuterRef("withdrawn_at"),
    )
    opted_out = (
        ConsentRecord.objects.filter(
            participant=OuterRef("participant"),
            kind=ConsentKind.SMS,
            withdrawn_at__isnull=False,
            withdrawn_at__gte=OuterRef("enrolled_at"),
        )
        .exclude(Exists(superseded))
        .order_by("withdrawn_at")
        .values("withdrawn_at")[:1]
    )
    rows = (
        enrolments.annotate(
            pid_text=_text("participant_id"),
            opted_out_at=Subquery(opted_out),
            order=order_key("participant_id", salt),
        )
        .order_by("order", "pk")
        .values_list(
            "pid_text",
            "arm__code",
            "site__code",
            "age_band",
            "gender",
            "track",
            "status",
            "enrolled_at",
            "ended_at",
            "opted_out_at",
            "participant__time_zone",
        )
    )
    for (
        pid,
        arm,
        site,
        age,
        gender,
        track,
        status,
        enrolled_at,
        ended_at,
        opted_out_at,
        time_zone,
    ) in stream_values(rows, chunk_size=CHUNK):
        observed_until = min(ended_at, now) if ended_at else now
        yield ParticipantRow(
            participant_id=pid,
            arm=arm,
            site=site,
            age_band=age,
            gender=gender,
            track=track,
            status=status,
            exit_day=local_days(ended_at, enrolled_at, time_zone),
            opt_out_day=local_days(opted_out_at, enrolled_at, time_zone),
            weeks_observed=_week(max(observed_until, enrolled_at), enrolled_at, time_zone) + 1,
        )


@dataclasses.dataclass(frozen=True)
class SessionRow:
    participant_id: str
    enrolment_id: str
    instrument: str
    version: str
    timepoint: str
    target_day: int
    day: int | None
    channel: str
    state: str
    complete: bool
    answered: int
    answers: dict[str, int]
    total: float | None
    subscales: dict[str, float | None]
    band: str


def session_rows(
    enrolments: QuerySet[Enrolment], *, salt: str, instrument: str | None = None
) -> Iterator[SessionRow]:
    """Sessions the person was invited to (planned ones are the future, and a planned one
    stopped before it opened, by an ending or a change of schedule, was never offered), in
    (person, timepoint) order."""
    sessions = SurveySession.objects.filter(
        enrolment__in=enrolments.values("pk"), invited_at__isnull=False
    ).exclude(state=SessionState.PLANNED)
    if instrument is not None:
        sessions = sessions.filter(instrument_slug=instrument)
    answers = (
        SurveyAnswer.objects.filter(session=OuterRef("pk"))
        .order_by()
        .values("session")
        .annotate(values=_ItemValues("item_key", "value"))
        .values("values")
    )
    rows = (
        sessions.annotate(
            pid_text=_text("enrolment__participant_id"),
            enrolment_text=_text("enrolment_id"),
            answer_values=Subquery(answers, output_field=TextField()),
            subscale_text=Cast("result__subscales", output_field=TextField()),
            order=order_key("enrolment__participant_id", salt),
        )
        .order_by("order", "enrolment_id", "timepoint__offset_days", "position", "instrument_slug")
        .values_list(
            "pid_text",
            "enrolment_text",
            "instrument_slug",
            "instrument__version",
            "timepoint__code",
            "timepoint__offset_days",
            "enrolment__enrolled_at",
            "started_at",
            "completed_at",
            "last_activity_at",
            "channel",
            "state",
            "result__complete",
            "result__answered",
            "result__total",
            "subscale_text",
            "result__band",
            "answer_values",
            "enrolment__participant__time_zone",
        )
    )
    for (
        pid,
        enrolment_id,
        slug,
        version,
        timepoint,
        offset,
        enrolled_at,
        started_at,
        completed_at,
        last_activity_at,
        channel,
        state,
        complete,
        answered,
        total,
        subscales,
        band,
        answer_values,
        time_zone,
    ) in stream_values(rows, chunk_size=CHUNK):
        values = json.loads(answer_values) if answer_values else {}
        yield SessionRow(
            participant_id=pid,
            enrolment_id=enrolment_id,
            instrument=slug,
            version=version or "",
            timepoint=timepoint,
            target_day=offset,
            # An invitation is activity too, but not an answer: no day until started.
            day=local_days(
                completed_at or (last_activity_at if started_at else None), enrolled_at, time_zone
            ),
            channel=channel,
            state=state,
            complete=bool(complete),
            answered=answered if answered is not None else len(values),
            answers=values,
            total=total,
            subscales=json.loads(subscales) if subscales and subscales != "{}" else {},
            band=band or "",
        )


ENGAGEMENT_COUNTS = (
    "peer_messages_in_web",
    "peer_messages_in_sms",
    "peer_messages_out_web",
    "peer_messages_out_sms",
    "automated_in_thread",
    "automated_sms_sent",
    "automated_sms_delivered",
    "automated_sms_failed",
    "automated_sms_not_sent",
    "risk_alerts_opened",
)


@dataclasses.dataclass
class EngagementWeek:
    participant_id: str
    week: int
    counts: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(ENGAGEMENT_COUNTS, 0)
    )
    response_minutes: list[float] = dataclasses.field(default_factory=list)

    @property
    def first_response_median_minutes(self) -> float | None:
        if not self.response_minutes:
            return None
        return round(statistics.median(self.response_minutes), 1)

    @property
    def first_response_max_minutes(self) -> float | None:
        return round(max(self.response_minutes), 1) if self.response_minutes else None


# One event: (order key, participant id, week, what, minutes for a first response)
Event = tuple[str, str, int, str, float]


def _message_events(enrolments: QuerySet[Enrolment], salt: str) -> Iterator[Event]:
    """Peer messages by direction and channel, automated messages in the thread, and first
    response times: from a person's message that starts a wait to the next staff message."""
    has_sms = SmsOutbox.objects.filter(message=OuterRef("pk"))
    rows = (
        Message.objects.filter(conversation__enrolment__in=enrolments.values("pk"))
        .annotate(
            pid_text=_text("conversation__enrolment__participant_id"),
            by_sms=Exists(has_sms),
            order=order_key("conversation__enrolment__participant_id", salt),
        )
        .order_by("order", "conversation_id", "seq")
        .values_list(
            "order",
            "pid_text",
            "conversation__enrolment__enrolled_at",
            "conversation__enrolment__participant__time_zone",
            "created_at",
            "sender_role",
            "channel",
            "by_sms",
        )
    )
    current: str | None = None
    waiting_since: dt.datetime | None = None
    for order, pid, enrolled_at, time_zone, created_at, role, channel, by_sms in stream_values(
        rows, chunk_size=CHUNK
    ):
        if pid != current:
            current, waiting_since = pid, None
        week = _week(created_at, enrolled_at, time_zone)
        if role == SenderRole.PARTICIPANT:
            yield order, pid, week, f"peer_messages_in_{'sms' if channel == 'sms' else 'web'}", 0.0
            if waiting_since is None:
                waiting_since = created_at
        elif role in STAFF_ROLES and channel != MessageChannel.AUTOMATED:
            yield order, pid, week, f"peer_messages_out_{'sms' if by_sms else 'web'}", 0.0
            if waiting_since is not None:
                minutes = (created_at - waiting_since).total_seconds() / 60
                started = _week(waiting_since, enrolled_at, time_zone)
                yield order, pid, started, "first_response", minutes
                waiting_since = None
        elif channel == MessageChannel.AUTOMATED and not by_sms:
            yield order, pid, week, "automated_in_thread", 0.0


def _automated_sms_events(
    programme: Programme, enrolments: QuerySet[Enrolment], salt: str
) -> Iterator[Event]:
    enrolment = Enrolment.objects.filter(programme=programme, participant=OuterRef("participant"))
    rows = (
        SmsOutbox.objects.filter(
            programme=programme,
            purpose=OutboxPurpose.AUTOMATED,
            participant__in=enrolments.values("participant"),
        )
        .annotate(
            pid_text=_text("participant_id"),
            enrolled_at=Subquery(enrolment.values("enrolled_at")[:1]),
            order=order_key("participant_id", salt),
        )
        .order_by("order", "created_at", "pk")
        .values_list(
            "order",
            "pid_text",
            "enrolled_at",
            "participant__time_zone",
            "created_at",
            "status",
            "delivery_status",
        )
    )
    failed = {DeliveryStatus.UNDELIVERED, DeliveryStatus.FAILED}
    for order, pid, enrolled, time_zone, created_at, status, delivery in stream_values(
        rows, chunk_size=CHUNK
    ):
        week = _week(created_at, enrolled, time_zone)
        if status in (OutboxStatus.SKIPPED, OutboxStatus.EXPIRED):
            yield order, pid, week, "automated_sms_not_sent", 0.0
            continue
        if status == OutboxStatus.SENT:
            yield order, pid, week, "automated_sms_sent", 0.0
        if status == OutboxStatus.FAILED or delivery in failed:
            yield order, pid, week, "automated_sms_failed", 0.0
        elif delivery == DeliveryStatus.DELIVERED:
            yield order, pid, week, "automated_sms_delivered", 0.0


def _alert_events(enrolments: QuerySet[Enrolment], salt: str) -> Iterator[Event]:
    rows = (
        RiskAlert.objects.filter(enrolment__in=enrolments.values("pk"))
        .annotate(
            pid_text=_text("enrolment__participant_id"),
            order=order_key("enrolment__participant_id", salt),
        )
        .order_by("order", "opened_at", "pk")
        .values_list(
            "order",
            "pid_text",
            "enrolment__enrolled_at",
            "enrolment__participant__time_zone",
            "opened_at",
        )
    )
    for order, pid, enrolled_at, time_zone, opened_at in stream_values(rows, chunk_size=CHUNK):
        yield order, pid, _week(opened_at, enrolled_at, time_zone), "risk_alerts_opened", 0.0


def engagement_weeks(
    programme: Programme, enrolments: QuerySet[Enrolment], *, salt: str
) -> Iterator[EngagementWeek]:
    """One row per person and week with any activity, person after person in the export's
    order. Each source is in that order, so one person's weeks are in memory at a time."""
    streams: Iterable[Event] = heapq.merge(
        _message_events(enrolments, salt),
        _automated_sms_events(programme, enrolments, salt),
        _alert_events(enrolments, salt),
        key=lambda event: event[0],
    )
    for _, events in itertools.groupby(streams, key=lambda event: event[0]):
        weeks: dict[int, EngagementWeek] = {}
        for _, pid, week, what, minutes in events:
            row = weeks.get(week)
            if row is None:
                row = weeks[week] = EngagementWeek(participant_id=pid, week=week)
            if what == "first_response":
                row.response_minutes.append(minutes)
            else:
                row.counts[what] += 1
        for week in sorted(weeks):
            yield weeks[week]
