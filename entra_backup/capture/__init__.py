"""Capture: a tenant read kind by kind into sorted, hashed NDJSON files and a chained manifest."""
