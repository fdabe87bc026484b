from django.db.backends.sqlite3 import base

from .. import QueryLogSwitch


class DatabaseWrapper(QueryLogSwitch, base.DatabaseWrapper):
    pass
