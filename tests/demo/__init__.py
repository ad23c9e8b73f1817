"""The one-command demo, started as a user would start it."""
