"""Short-lived credentials: service users' SMS sign-in codes and WebSocket tickets."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from access.models import LoginCode, WsTicket
from audit.services import record
from messaging.sms import OutgoingSms, SmsSendError, send_sms
from peerlink.errors import DomainError
from people.models import Participant, User
from people.selectors import find_participant_by_phone, participant_profile, sms_allowed
from people.services import normalise_phone

logger = logging.getLogger(__name__)

CODE_DIGITS = 6
INVALID_CODE = DomainError("invalid_code", "The code is wrong or has expired. Ask for a new one.")


def _digest(*parts: str) -> str:
    message = "|".join(parts).encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def _participant_for(phone: str) -> Participant | None:
    return find_participant_by_phone(normalise_phone(phone))


@transaction.atomic
def request_login_code(*, phone: str) -> None:
    """Send a sign-in code by SMS. Says nothing about whether the number is known."""
    participant = _participant_for(phone)
    if participant is None or not sms_allowed(participant):
        return
    now = timezone.now()
    LoginCode.objects.filter(participant=participant, used_at__isnull=True).update(used_at=now)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    login_code = LoginCode.objects.create(
        participant=participant,
        code_hash=_digest("login-code", str(participant.id), code),
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.LOGIN_CODE_TTL_SECONDS),
    )
    minutes = settings.LOGIN_CODE_TTL_SECONDS // 60
    body = f"Your peerlink sign-in code is {code}. It expires in {minutes} minutes."
    sms = OutgoingSms(
        to=participant_profile(participant).phone,
        body=body,
        purpose="login_code",
        reference=str(login_code.id),
    )
    transaction.on_commit(lambda: _send_login_code(sms))


def _send_login_code(sms: OutgoingSms) -> None:
    """Straight to the backend, not through the outbox: the code is a secret that lives only
    as a hash, and one that arrives after its ten minutes is no use. A failure is logged (by
    kind) and the person asks again."""
    try:
        send_sms(sms)
    except SmsSendError as exc:
        logger.warning("sign-in code not sent: %s", exc)


def verify_login_code(*, phone: str, code: str) -> User:
    """The participant's user for a right, fresh, unused code; one generic error otherwise.

    Not one atomic block around everything: a wrong attempt must be counted (and the code
    burned after too many) even though the call then fails.
    """
    try:
        participant = _participant_for(phone)
    except DomainError:
        raise INVALID_CODE from None
    if participant is None or not code.isdigit() or len(code) != CODE_DIGITS:
        raise INVALID_CODE
    expected = _digest("login-code", str(participant.id), code)
    with transaction.atomic():
        now = timezone.now()
        login_code = (
            LoginCode.objects.select_for_update()
            .filter(participant=participant, used_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        if login_code is not None and hmac.compare_digest(login_code.code_hash, expected):
            LoginCode.objects.filter(pk=login_code.pk).update(used_at=now)
            record(action="auth.participant_login", actor=participant.user, target=participant.user)
            return participant.user
        if login_code is not None:
            burned = login_code.attempts + 1 >= settings.LOGIN_CODE_MAX_ATTEMPTS
            LoginCode.objects.filter(pk=login_code.pk).update(
                attempts=F("attempts") + 1, used_at=now if burned else None
            )
    raise INVALID_CODE


def issue_ws_ticket(*, user: User) -> str:
    ticket = secrets.token_urlsafe(32)
    now = timezone.now()
    WsTicket.objects.create(
        ticket_hash=_digest("ws-ticket", ticket),
        user=user,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=settings.WS_TICKET_TTL_SECONDS),
    )
    return ticket


def consume_ws_ticket(*, ticket: str) -> User | None:
    """The ticket's user, once; None for unknown, expired or already used tickets."""
    if not ticket or len(ticket) > 128:
        return None
    now = timezone.now()
    ticket_hash = _digest("ws-ticket", ticket)
    claimed = WsTicket.objects.filter(
        ticket_hash=ticket_hash, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now)
    if claimed != 1:
        return None
    return WsTicket.objects.select_related("user").get(ticket_hash=ticket_hash).user
