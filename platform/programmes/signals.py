"""What other apps hear about enrolments (Zulip-style fan-out without an import cycle: the
scheduler and the surveys plan and stop their own sends). Receivers get `enrolment` and run
inside the service's transaction, so a failing receiver undoes the whole change."""

from __future__ import annotations

from django.dispatch import Signal

enrolment_started = Signal()
enrolment_ended = Signal()
