"""Where snapshots live and how they are proved intact: write-once stores and verification."""
