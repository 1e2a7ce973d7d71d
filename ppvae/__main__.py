"""``python -m ppvae`` and the ``ppvae`` console script."""

from __future__ import annotations

import sys

HEAVY = ("train", "ssl", "evaluate")


def entry() -> None:
    """Console-script entry point: keeps freed memory for reuse (ppvae/memory.py) and, for
    the commands that compute, picks ATen's faster CPU kernels where they are measurably
    faster (ppvae/cpukernels.py) before torch loads."""
    argv = sys.argv[1:]
    note = None
    if argv[:1] and argv[0] in HEAVY and "--native-kernels" not in argv:
        from ppvae.cpukernels import choose_kernels

        note = choose_kernels()
    from ppvae.cli import main

    if note:
        print(note, file=sys.stderr)
    sys.exit(main(keep_memory=True))


if __name__ == "__main__":
    entry()
