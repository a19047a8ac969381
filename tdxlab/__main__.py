"""`python -m tdxlab` is the `tdxlab` command."""
import sys

from tdxlab.cli import main

if __name__ == "__main__":
    sys.exit(main())
