"""`python -m regflow.cli`: the `regflow` command."""

import sys

from regflow.cli import main

sys.exit(main())
