"""`manage.py simulate_sms --from NUMBER TEXT`: post a correctly signed inbound webhook to a
running server, as Twilio would, for demos and manual tests.

The URL signed is PEERLINK_PUBLIC_URL + /sms/twilio/inbound/, which is what the server checks
(run it with the server's environment); `--server` sends it elsewhere (for example straight
to the ASGI process behind a proxy). Prints the MessageSid and the HTTP status, never the
number or the text.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from messaging.sms import simulate
from people.services import strict_e164


class Command(BaseCommand):
    help = "Post a signed Twilio inbound SMS webhook to a running peerlink server."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from", dest="sender", required=True, help="E.164, e.g. +17805550101")
        parser.add_argument("text", nargs="+", help="the text of the SMS")
        parser.add_argument("--to", default=simulate.SERVICE_NUMBER, help="our number (To)")
        parser.add_argument("--sid", default=None, help="a MessageSid (to replay a webhook)")
        parser.add_argument("--server", default=None, help="base URL to post to")

    def handle(self, *args: Any, **options: Any) -> None:
        sender = strict_e164(options["sender"].strip())
        if sender is None:
            raise CommandError("--from must be a valid phone number in E.164 form (+17805550101).")
        params = simulate.inbound_params(
            sender=sender,
            body=" ".join(options["text"]),
            to=options["to"],
            message_sid=options["sid"],
        )
        request = simulate.signed_request(simulate.inbound_url(), params)
        try:
            status = simulate.post(request, to_base=options["server"])
        except OSError as exc:
            raise CommandError(f"could not reach the server: {type(exc).__name__}") from None
        self.stdout.write(f"MessageSid={params['MessageSid']} HTTP {status}")
        if status != 200:
            raise CommandError(f"the server answered {status}")
