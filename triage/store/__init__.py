"""Persistent state: SQLite by default, PostgreSQL by URL, same code (:mod:`triage.store.db`)."""

from triage.store.db import Store, StoreError

__all__ = ["Store", "StoreError"]
