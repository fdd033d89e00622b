"""`python -m entra_backup.cli` - the same entry point as the `entra-backup` script."""

import sys

from entra_backup.cli.main import main

sys.exit(main())
