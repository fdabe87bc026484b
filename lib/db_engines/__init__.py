"""Django's SQLite and PostgreSQL backends without DEBUG's record of every query.

With DEBUG on (the embedded default of `make run`), Django wraps every cursor in a
CursorDebugWrapper that times each query, formats its SQL with its parameters and keeps the
last 9,000 in `connection.queries`. Nothing here reads that record, and under cProfile it was
3.0 s of the 7.8 s spent creating run events (bench/events.py). These engines keep it off
unless DASHBOARD_SQL_LOG=1; tests that count queries (CaptureQueriesContext,
assertNumQueries) force it on as before.
"""

from django.conf import settings


class QueryLogSwitch:
    @property
    def queries_logged(self) -> bool:
        return self.force_debug_cursor or settings.SQL_LOG
