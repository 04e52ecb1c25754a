"""``python -m convdemo`` does what the ``convdemo`` command does."""

import sys

from convdemo.cli import main

if __name__ == "__main__":
    sys.exit(main())
