"""The year at a glance: the plan ahead and the report afterwards, counted the same way."""
