"""Many classes at once: sessions as procrastinate jobs on PostgreSQL workers (docs/deploy.md)."""
