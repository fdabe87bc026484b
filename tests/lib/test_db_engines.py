"""lib/db_engines: DEBUG's record of every query is off, and query counting still works."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from runs.models import Run

pytestmark = pytest.mark.django_db


def test_debug_does_not_record_every_query(settings):
    settings.DEBUG = True
    connection.queries_log.clear()
    Run.objects.count()
    assert connection.queries == []


def test_dashboard_sql_log_records_them_again(settings):
    settings.DEBUG, settings.SQL_LOG = True, True
    connection.queries_log.clear()
    Run.objects.count()
    (query,) = connection.queries
    assert query["sql"] == 'SELECT COUNT(*) AS "__count" FROM "runs_run"'


def test_counting_queries_in_tests_still_counts_them(django_assert_num_queries):
    with CaptureQueriesContext(connection) as captured:
        Run.objects.count()
        Run.objects.exists()
    assert len(captured) == 2
    with django_assert_num_queries(1):
        Run.objects.count()
