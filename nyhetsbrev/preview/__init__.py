"""The coordinator's live preview (`serve`)."""
