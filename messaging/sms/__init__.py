"""The SMS channel (DESIGN.md §3, data flows 2 and 3): backends, Twilio webhooks, keywords,
segments, the outbox's delivery and inbound handling.

The backends are importable from here, so `SMS_BACKEND=messaging.sms.TwilioSmsBackend` (or
`messaging.sms.ConsoleSmsBackend`) names them.
"""

from messaging.sms.backends import (
    ConsoleSmsBackend,
    OutgoingSms,
    SmsPermanentError,
    SmsReceipt,
    SmsSendError,
    SmsTemporaryError,
    TwilioSmsBackend,
    send_sms,
)

__all__ = [
    "ConsoleSmsBackend",
    "OutgoingSms",
    "SmsPermanentError",
    "SmsReceipt",
    "SmsSendError",
    "SmsTemporaryError",
    "TwilioSmsBackend",
    "send_sms",
]
