"""Checked content -> published files: email, web, feeds, calendar, lint, cache, writer."""
