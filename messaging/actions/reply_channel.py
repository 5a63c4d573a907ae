"""How replies reach a service user: where they last wrote. A person who texts gets their peer
supporter's replies by SMS (if they have SMS consent); one who writes on the web gets them on
the web; and they may choose (`POST /api/v1/me/channel/`). Staff see the person's channel in
the conversation list (`participant.preferred_channel`) and, on each message sent by SMS, its
`delivery`; a switch adds no notice to the thread, which would fill with them for a person
who moves between phone and browser."""

from __future__ import annotations

import logging

from django.db import transaction

from peerlink.errors import Conflict, DomainError
from people.models import Channel, Participant
from people.selectors import sms_allowed

logger = logging.getLogger(__name__)


@transaction.atomic
def follow_channel(*, participant: Participant, channel: str, via: str) -> bool:
    """Switch the person's replies to `channel` (web or sms). SMS only with SMS consent: a
    person who opted out keeps getting replies on the web. True when something changed."""
    if channel not in Channel.values:
        raise DomainError("invalid_channel", "The preferred channel must be web or sms.")
    if participant.preferred_channel == channel:
        return False
    if channel == Channel.SMS and not sms_allowed(participant):
        return False
    Participant.objects.filter(pk=participant.pk).update(preferred_channel=channel)
    participant.preferred_channel = channel
    logger.info("replies follow the person to %s (via %s)", channel, via)
    return True


def choose_channel(*, participant: Participant, channel: str) -> Participant:
    """The person's own choice. SMS needs SMS consent: without it nothing would reach them."""
    if channel == Channel.SMS and not sms_allowed(participant):
        raise Conflict(
            "no_sms_consent", "SMS is off for this number: text START to the service first."
        )
    follow_channel(participant=participant, channel=channel, via="choice")
    return participant
