"""``python -m ppvae`` and the ``ppvae`` console script."""

from __future__ import annotations

import sys


def entry() -> None:
    """Console-script entry point."""
    from ppvae.cli import main

    sys.exit(main())


if __name__ == "__main__":
    entry()
