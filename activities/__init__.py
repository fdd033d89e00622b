"""Durable Functions activities: see docs/architecture.md for what belongs here."""
