"""The service's own store: tokens, classes, the sessions it ran and their attempts, schedules, deliveries.

Typed records in (`records`), typed records out (`store.ServiceStore`); the tables'
current shape in `tables`; how a database gets there in `migrations` (Alembic, run from
code at start-up). The observation store (`analysis.store`) shares the database but not
the tables.
"""
