"""Print a fresh random 32-byte key, base64-encoded, for PEERLINK_KEYRING or PEERLINK_INDEX_KEY.

    python manage.py generate_key              # a PEERLINK_INDEX_KEY value
    python manage.py generate_key --version 2  # a `2:KEY` entry to append to PEERLINK_KEYRING

The key goes to standard output only: nothing is stored or logged.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from encryption.keyring import KEY_BYTES


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


class Command(BaseCommand):
    help = (
        "Print a fresh base64 32-byte key for PEERLINK_INDEX_KEY, or with --version N "
        "a `N:KEY` entry for PEERLINK_KEYRING."
    )
    requires_system_checks: list[str] = []

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # Django's own `--version` (print the Django version) gives way to the KEK version.
        kwargs.setdefault("conflict_handler", "resolve")
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--version",
            type=int,
            default=None,
            metavar="N",
            help="Key-encryption key version (>= 1): print `N:KEY` for PEERLINK_KEYRING.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        version: int | None = options["version"]
        if version is not None and version < 1:
            raise CommandError("--version must be at least 1")
        key = new_key()
        self.stdout.write(key if version is None else f"{version}:{key}")
