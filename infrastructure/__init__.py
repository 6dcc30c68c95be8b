"""Adapters: settings, clock, holiday calendar, persistence, auth tokens, logging."""
