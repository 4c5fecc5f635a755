"""``python -m event_calendar.daphne [daphne's arguments]``: Daphne, with tokens masked in its access log.

Daphne's command line writes its access log itself, not through Python's logging, so no logging filter
reaches it; this runs the same command line with ``logs.MaskedAccessLog`` in place of its access log.
"""

from __future__ import annotations

import daphne.cli

from .logs import MaskedAccessLog


def main() -> None:
    daphne.cli.AccessLogGenerator = MaskedAccessLog
    daphne.cli.CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
