"""Recommendations for the control room: the rules (advice.py), raised and decided through services.py."""
