"""Helpers the test suite and `make` share: starting real servers on loopback."""
