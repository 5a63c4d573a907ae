"""The exported tables' columns, built from the programme's arms, sites, timepoints and
instruments so that every categorical column lists exactly the values it can hold."""

from __future__ import annotations

from collections.abc import Sequence

from outcomes.export.anonymity import GENERALISED_VALUES, SUPPRESSED
from outcomes.export.codebook import Column, Table
from outcomes.export.sources import ENGAGEMENT_COUNTS
from outcomes.instrument_format import InstrumentSpec
from outcomes.models import SessionState, SurveyTimepoint
from programmes.models import AgeBand, EnrolmentStatus, Gender, Programme

PID = Column(
    "pid",
    "string",
    "Pseudonymous participant id: HMAC-SHA256 of the person under this study's export key. "
    "The same in every export made with the same key; unrelated across studies.",
    required=True,
)


def _choices(choices: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(value), str(label)) for value, label in choices)


def _with_generalised(
    name: str, labels: tuple[tuple[str, str], ...], quasi_identifiers: Sequence[str]
) -> tuple[tuple[str, str], ...]:
    if name not in quasi_identifiers:
        return labels
    extra = GENERALISED_VALUES.get(name, (SUPPRESSED,))
    return labels + tuple(
        (value, "suppressed (k-anonymity)" if value == SUPPRESSED else "generalised band")
        for value in extra
    )


def _categorical(
    name: str, description: str, labels: tuple[tuple[str, str], ...], quasi: Sequence[str]
) -> Column:
    labels = _with_generalised(name, labels, quasi)
    return Column(
        name,
        "string",
        description,
        values=tuple(value for value, _ in labels),
        labels=labels,
        required=True,
    )


def participants_table(
    programme: Programme, *, tracks: Sequence[str], quasi_identifiers: Sequence[str]
) -> Table:
    arms = tuple((arm.code, arm.name) for arm in programme.arms.order_by("code"))
    sites = tuple((site.code, site.name) for site in programme.sites.order_by("code"))
    day = "Days from the day of enrolment, in the person's time zone (day 0 is that day)"
    return Table(
        name="participants",
        title="Participants",
        description="One row per enrolled person who holds research consent.",
        primary_key=("pid",),
        columns=(
            PID,
            _categorical("arm", "Trial arm allocated at enrolment.", arms, quasi_identifiers),
            _categorical("site", "Site of enrolment.", sites, quasi_identifiers),
            _categorical(
                "age_band",
                "Age band recorded at enrolment.",
                _choices(AgeBand.choices),
                quasi_identifiers,
            ),
            _categorical(
                "gender",
                "Gender recorded at enrolment.",
                _choices(Gender.choices),
                quasi_identifiers,
            ),
            _categorical(
                "track",
                "Message track (for example by primary diagnosis).",
                tuple((track, track) for track in tracks),
                quasi_identifiers,
            ),
            _categorical("status", "Enrolment status now.", _choices(EnrolmentStatus.choices), ()),
            Column(
                "exit_day",
                "integer",
                f"{day} to the end of the enrolment (withdrawn or completed); empty while active.",
                unit="days",
                minimum=0,
            ),
            Column(
                "opt_out_day",
                "integer",
                f"{day} to the first SMS opt-out (STOP, or withdrawn SMS consent) after "
                "enrolment; empty if none.",
                unit="days",
                minimum=0,
            ),
            Column(
                "weeks_observed",
                "integer",
                "Weeks from enrolment to its end or to the export, counting the current one: "
                "the denominator for engagement (weeks without activity have no row).",
                unit="weeks",
                minimum=1,
                required=True,
            ),
        ),
    )


def survey_table_name(slug: str) -> str:
    return f"survey_{slug.replace('-', '_')}"


def survey_table(
    spec: InstrumentSpec, *, versions: Sequence[str], timepoints: Sequence[SurveyTimepoint]
) -> Table:
    items = tuple(
        Column(
            item.key,
            "integer",
            f"Answer to item {item.key}"
            + ("" if item.scored else " (not scored)")
            + ("; reverse-scored in the total" if item.reverse else "")
            + ". Empty if not answered.",
            labels=tuple((str(o.value), next(iter(o.label.values()), "")) for o in item.options),
            minimum=min(o.value for o in item.options),
            maximum=max(o.value for o in item.options),
        )
        for item in spec.items
    )
    subscales = tuple(
        Column(
            f"subscale_{score.key}",
            "number",
            f"Subscale {score.label or score.key} ({score.method}); empty when too many of its "
            "items are missing.",
            unit="points",
        )
        for score in spec.subscales
    )
    bands = tuple((band.label, f"total {band.min:g} to {band.max:g}") for band in spec.bands)
    return Table(
        name=survey_table_name(spec.slug),
        title=spec.name,
        description=(
            f"One row per person and timepoint at which {spec.name} was offered (its window "
            "has opened), answered or not."
        ),
        primary_key=("pid", "timepoint"),
        foreign_keys=(("pid", "participants", "pid"),),
        columns=(
            PID,
            Column(
                "instrument_version",
                "string",
                "Version of the instrument asked.",
                values=tuple(versions),
                required=True,
            ),
            Column(
                "timepoint",
                "string",
                "Survey timepoint.",
                values=tuple(tp.code for tp in timepoints),
                labels=tuple((tp.code, tp.label) for tp in timepoints),
                required=True,
            ),
            Column(
                "target_day",
                "integer",
                "Timepoint's target, in days from enrolment.",
                unit="days",
                minimum=0,
                required=True,
            ),
            Column(
                "day",
                "integer",
                "Days from the day of enrolment to completion (or to the last answer), in the "
                "person's time zone; empty if "
                "never started.",
                unit="days",
                minimum=0,
            ),
            Column(
                "days_from_target",
                "integer",
                "day minus target_day: negative is early, positive late.",
                unit="days",
            ),
            Column(
                "channel",
                "string",
                "How it was asked.",
                values=("sms", "web"),
                labels=(("sms", "SMS, one question per text"), ("web", "Web form by link")),
            ),
            Column(
                "status",
                "string",
                "Where the session stands.",
                values=tuple(s.value for s in SessionState if s != SessionState.PLANNED),
                labels=tuple(
                    (s.value, str(s.label)) for s in SessionState if s != SessionState.PLANNED
                ),
                required=True,
            ),
            Column(
                "complete",
                "boolean",
                "Every scored item answered.",
                required=True,
            ),
            Column(
                "items_answered",
                "integer",
                "Number of items answered.",
                minimum=0,
                maximum=len(spec.items),
                required=True,
            ),
            *items,
            Column(
                "total",
                "number",
                f"Total score ({spec.total.method}); empty when too many items are missing.",
                unit="points",
            ),
            *subscales,
            Column(
                "band",
                "string",
                "Severity band of the total.",
                values=tuple(label for label, _ in bands),
                labels=bands,
            ),
        ),
    )


def engagement_table() -> Table:
    described = {
        "peer_messages_in_web": "Messages from the person to their peer supporter, by web chat.",
        "peer_messages_in_sms": "Messages from the person to their peer supporter, by SMS.",
        "peer_messages_out_web": "Messages from peer supporters or supervisors, read on the web.",
        "peer_messages_out_sms": "Messages from peer supporters or supervisors, sent by SMS.",
        "automated_in_thread": "Automated supportive or reminder texts shown in the web thread.",
        "automated_sms_sent": "Automated texts accepted by the SMS provider.",
        "automated_sms_delivered": "Automated texts reported delivered to the phone.",
        "automated_sms_failed": "Automated texts that failed or were not delivered.",
        "automated_sms_not_sent": "Automated texts not sent (no SMS consent, or too late).",
        "risk_alerts_opened": "Risk alerts opened (counts only, nothing of their content).",
    }
    return Table(
        name="engagement_weekly",
        title="Engagement per person and week",
        description=(
            "One row per person and week since enrolment with any activity; weeks without "
            "activity have no row (participants.weeks_observed is the denominator). Message "
            "text is never exported."
        ),
        primary_key=("pid", "week"),
        foreign_keys=(("pid", "participants", "pid"),),
        columns=(
            PID,
            Column(
                "week",
                "integer",
                "Week since enrolment (week 0 is days 0 to 6).",
                unit="weeks",
                minimum=0,
                required=True,
            ),
            *(
                Column(name, "integer", described[name], unit="messages", minimum=0, required=True)
                for name in ENGAGEMENT_COUNTS
            ),
            Column(
                "first_responses",
                "integer",
                "Waits answered by a peer supporter: from a message of the person that started "
                "a wait (the first since staff last wrote) to the next staff message. Counted "
                "in the week the wait started.",
                minimum=0,
                required=True,
            ),
            Column(
                "first_response_median_minutes",
                "number",
                "Median time to those responses.",
                unit="minutes",
                minimum=0,
            ),
            Column(
                "first_response_max_minutes",
                "number",
                "Longest time to those responses.",
                unit="minutes",
                minimum=0,
            ),
        ),
    )
