"""Stockpiles app."""
