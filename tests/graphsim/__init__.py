"""Tests for graphsim."""
