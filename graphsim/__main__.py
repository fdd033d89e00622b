"""`python -m graphsim` is the `graphsim` command."""

import sys

from graphsim.cli import main

sys.exit(main())
