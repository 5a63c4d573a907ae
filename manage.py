#!/usr/bin/env python
"""Django's command-line utility. `platform/` is put on the path, never imported as a package."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> None:
    root = Path(__file__).resolve().parent
    for folder in (root, root / "platform"):
        if str(folder) not in sys.path:
            sys.path.insert(1, str(folder))
    from peerlink.env import use_profile_settings

    use_profile_settings()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
