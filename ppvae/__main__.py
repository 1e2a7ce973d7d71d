"""``python -m ppvae`` and the ``ppvae`` console script."""

from __future__ import annotations

import sys


def entry() -> None:
    """Console-script entry point (keeps freed memory for reuse: ppvae/memory.py)."""
    from ppvae.cli import main

    sys.exit(main(keep_memory=True))


if __name__ == "__main__":
    entry()
