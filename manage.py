#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.dev")
    # After DJANGO_SETTINGS_MODULE is set: Django reads it on import.
    from django.core.management import execute_from_command_line  # noqa: PLC0415 — settings first

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
