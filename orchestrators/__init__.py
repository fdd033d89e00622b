"""Durable Functions orchestrators: see docs/architecture.md for what belongs here."""
