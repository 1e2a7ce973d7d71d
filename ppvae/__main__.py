"""``python -m ppvae`` and the ``ppvae`` console script."""

from __future__ import annotations

import os
import sys

HEAVY = ("train", "ssl", "evaluate")
NOTE = "PPVAE_KERNELS_NOTE"


def entry() -> None:
    """Console-script entry point: for the commands that compute, takes ATen's faster CPU
    kernels where they are measurably faster (ppvae/cpukernels.py). ATen reads that choice
    when torch loads, and importing ppvae loaded it already, so the command then starts
    again, once, with it set."""
    argv = sys.argv[1:]
    note = os.environ.pop(NOTE, None)
    if note is None and argv[:1] and argv[0] in HEAVY and "--native-kernels" not in argv:
        from ppvae.cpukernels import choose_kernels

        note = choose_kernels()
        if note is not None:
            os.environ[NOTE] = note
            os.execv(sys.executable, sys.orig_argv)  # the same command line, flags and all
    from ppvae.cli import main

    if note:
        print(note, file=sys.stderr)
    sys.exit(main())


if __name__ == "__main__":
    entry()
