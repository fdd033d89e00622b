"""Tests of the Functions app surface (bindings, HTTP routes)."""
