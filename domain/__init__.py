"""The casetrail domain: aggregates, their events, value objects, policies and the
time interfaces. Pure Python: nothing here imports a framework or another layer."""
