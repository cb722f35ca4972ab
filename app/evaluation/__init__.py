"""Offline evaluation: hold out each user's latest ratings and score the strategies the API serves."""
