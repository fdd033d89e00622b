"""Engine tests: unit, and integration against graphsim and Azurite."""
