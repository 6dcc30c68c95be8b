"""Use cases over the event store: load -> command -> save, conflicts, idempotency."""
