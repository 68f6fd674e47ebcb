"""Alerts on equipment: raised deduplicated, acknowledged and cleared by operators."""
