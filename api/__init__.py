"""HTTP triggers: routes, request validation and responses; no engine logic."""
