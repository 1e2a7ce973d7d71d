"""List the benchmarks: ``python -m benchmarks``; run one with ``python -m benchmarks.NAME``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: modules the benchmarks import, not benchmarks themselves
SUPPORT = {"__init__", "__main__", "common", "baselines", "ss_baseline"}


def entries() -> list[tuple[str, str, str]]:
    """``(name, summary, command)`` of every benchmark, from its module docstring."""
    out = []
    for path in sorted(HERE.glob("*.py")):
        if path.stem in SUPPORT:
            continue
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        summary = " ".join(doc.split("\n\n")[0].split())
        command = next((" ".join(line.split()) for line in doc.splitlines()
                        if line.strip().startswith("python -m benchmarks.")),
                       f"python -m benchmarks.{path.stem}")
        out.append((path.stem, summary, command))
    return out


def main(argv: list[str] | None = None) -> int:
    if argv if argv is not None else sys.argv[1:]:
        print("usage: python -m benchmarks  (lists them; run one with python -m benchmarks.NAME)",
              file=sys.stderr)
        return 2
    for name, summary, command in entries():
        print(f"{name}\n    {summary}\n    {command}")
    print("gpu_check.sh\n    The GPU tests and the CUDA speed benchmarks, as one script for a "
          "GPU machine.\n    bash benchmarks/gpu_check.sh")
    print("\nResults: benchmarks/results/NAME_MACHINE_DATE.json; the tables: BENCHMARKS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
