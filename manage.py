#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    # What the dashboard creates (its database, logs, snapshots) is its own: a local sandbox
    # running as another account must not read it. See sandboxes/isolation.py.
    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
