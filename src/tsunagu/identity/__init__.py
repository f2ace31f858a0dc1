"""Parties: organizations and their units, persons, households, officials; municipality master."""
