from django.db.backends.postgresql import base

from .. import QueryLogSwitch


class DatabaseWrapper(QueryLogSwitch, base.DatabaseWrapper):
    pass
