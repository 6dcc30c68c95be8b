"""Read models over the event store. The projections runtime and its views
(obligations, audit, retention, reports) arrive with their issues."""
