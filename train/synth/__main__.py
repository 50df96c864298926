"""``python -m train.synth ...``: the same command as ``python -m train synth ...``."""

import sys

from .cli import main

sys.exit(main())
