"""The frozen executable's entry point: the same `main` as the `netcheck` console script."""

import sys

from netcheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
