"""mypy on the package as installed: ppvae.models and ppvae.guides come from models/ and
guides/ (setuptools' package-dir), a mapping mypy cannot follow, so their files are named
by their installed module names. Run from the repository root: python .ci/typecheck.py"""

import sys

from mypy import build
from mypy.errors import CompileError
from mypy.main import process_options
from mypy.modulefinder import BuildSource

sources, options = process_options(["ppvae", "models", "guides"])
sources = [s if s.module.split(".")[0] == "ppvae"
           else BuildSource(s.path, f"ppvae.{s.module}", None, s.base_dir) for s in sources]
try:
    messages = build.build(sources, options).errors
except CompileError as exc:
    messages = exc.messages
print("\n".join(messages) or f"mypy: no issues found in {len(sources)} source files")
sys.exit(1 if messages else 0)
