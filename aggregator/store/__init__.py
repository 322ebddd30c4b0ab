"""The database: the only package that imports SQLAlchemy (migrations aside).

``Database`` opens it and owns every transaction (``transaction()`` to write, ``reading()`` to
read), translating driver errors into ``StoreError``/``DatabaseUnavailable``. The modules
beside it are repositories: functions that take an open transaction, run set-based
statements, and return the frozen values of ``values.py`` (never a row object).
"""

from aggregator.store.db import Database, DatabaseOptions, Tx

__all__ = ["Database", "DatabaseOptions", "Tx"]
