"""The page's state outside the index: feedback, the audit log and who may use the staff tab.

:mod:`.database` is the state database feedback and the audit log share (SQLite beside the
index, or PostgreSQL), :mod:`.feedback` and :mod:`.audit` its two tables, :mod:`.staff` the
staff's logins, lockouts and sessions. This file imports nothing, so the package has no import
cycle.
"""
