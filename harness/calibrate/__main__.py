"""`python -m calibrate`: run a calibration scenario without pytest."""

import sys

from .cli import main

sys.exit(main())
