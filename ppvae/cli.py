"""The ``ppvae`` command line: list, train, evaluate, sample, reconstruct, manifold, embed."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ppvae.config import apply_overrides, from_dict
from ppvae.errors import ConfigError, PPVAEError, RunError
from ppvae.memory import keep_freed_memory
from ppvae.plugins import load_plugins, plugin_ref
from ppvae.registry import DATASETS, ELBOS, GUIDES, MODELS
from ppvae.rundir import BEST, CHECKPOINT
from ppvae.typed import SEED_MAX

if TYPE_CHECKING:
    from ppvae.api import Run

MAX_GRID = 100

SHORTCUTS = {
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "elbo": "train.elbo",
    "seed": "train.seed",
    "num_particles": "train.num_particles",
    "device": "train.device",
    "threads": "train.threads",
}


KEEP_HELP = ("keep freed memory in the process for reuse (glibc): faster k = 5000 log p(x) "
             "and M2 epochs; the process keeps its peak memory (ppvae/memory.py)")


def argument_type(convert: Callable[[str], Any], noun: str, ok: Callable[[Any], bool],
                  want: str) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)`` (else "is not ``noun``"), accepted where ``ok``
    (else "must be ``want``")."""
    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"must be {want}; got {text}")
        return value
    return parse


#: an integer >= 1
positive = argument_type(int, "an integer", lambda v: v >= 1, ">= 1")
#: a seed in 0..SEED_MAX
seed_value = argument_type(int, "an integer", lambda v: 0 <= v <= SEED_MAX, f"in 0..{SEED_MAX}")
#: a finite number > 0
positive_float = argument_type(float, "a number", lambda v: 0 < v < float("inf"),
                               "a finite number > 0")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ppvae", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import a module (or .py file) that registers models/guides")
        sp.add_argument("--data-dir", help="data root (default: $PPVAE_DATA_DIR or user cache)")
        sp.add_argument("--native-kernels", action="store_true",
                        help="keep ATen's own choice of CPU kernels (by default the ppvae "
                             "command takes its AVX2 ones where a probe measured its AVX-512 "
                             "ones slower: ppvae/cpukernels.py)")

    sp = sub.add_parser("list", help="registered models, guides, ELBOs and datasets")
    common(sp)
    sp.add_argument("--options", action="store_true",
                    help="every config option with its type and default (Markdown)")

    for name, helptext in [("train", "train a model/guide pair by SVI"),
                           ("ssl", "train with a [semi] table: few labels (e.g. M2)")]:
        sp = sub.add_parser(name, help=helptext)
        common(sp)
        sp.add_argument("--config", help="TOML config file" + (" with a [semi] table"
                                                              if name == "ssl" else ""))
        sp.add_argument("--out", help="run folder (default runs/<config>-<time>)")
        sp.add_argument("--resume", action="store_true", help="continue the run in --out")
        sp.add_argument("--previous", action="store_true",
                        help="with --resume: from the checkpoint before the last "
                             "(checkpoint.prev.pt)")
        sp.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set model.z_dim=2")
        for flag, key in SHORTCUTS.items():
            helpflag = f"same as --set {key}=..."
            if name == "ssl" and flag == "seed":
                helpflag = "seed of the label draw (semi.label_seed) and of training"
            sp.add_argument(f"--{flag.replace('_', '-')}", dest=flag, help=helpflag)
        if name == "ssl":
            sp.add_argument("--labels", type=positive,
                            help="labelled examples, the same number per class (semi.labels)")
        sp.add_argument("--no-progress", action="store_true", help="no progress bars")
        sp.add_argument("--tensorboard", action="store_true",
                        help="TensorBoard logs in RUN/tb (same as --set train.tensorboard=true)")
        sp.add_argument("--keep-freed-memory", action="store_true", help=KEEP_HELP)

    sp = sub.add_parser("evaluate", help="test ELBO and importance-sampled log p(x)")
    common(sp)
    sp.add_argument("run")
    sp.add_argument("--k", type=positive, default=1000, help="importance samples per example")
    sp.add_argument("--n", type=positive, help="evaluate only the first N test examples")
    sp.add_argument("--seed", type=seed_value, default=0)
    sp.add_argument("--best", action="store_true",
                    help="use best.pt (best validation error) instead of the last checkpoint")
    sp.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    sp.add_argument("--threads", type=positive, help="CPU threads (default: torch's choice)")
    sp.add_argument("--no-progress", action="store_true")
    sp.add_argument("--keep-freed-memory", action="store_true", help=KEEP_HELP)

    sp = sub.add_parser("export", help="a weights-only copy of a run (with the feature VAE "
                                       "a run on features reads), e.g. for pretrained/")
    common(sp)
    sp.add_argument("run")
    sp.add_argument("out", help="the new folder, named as it will be read from here")
    sp.add_argument("--best", action="store_true",
                    help="export best.pt (best validation error) instead of the last checkpoint")
    sp.add_argument("--max-file-mb", type=positive_float, metavar="MB",
                    help="split each part's weights into files of at most MB megabytes "
                         "(10^6 bytes) of tensors, e.g. for a repository's size limit")

    for name, helptext in [
        ("sample", "PNG of samples from the model"),
        ("reconstruct", "PNG of test images and their reconstructions"),
        ("manifold", "PNG of the decoded 2-D latent grid"),
        ("embed", "PNG of test-set latent means coloured by label"),
        ("confusion", "PNG of the test confusion matrix of a semi-supervised run"),
    ]:
        sp = sub.add_parser(name, help=helptext)
        common(sp)
        sp.add_argument("run")
        sp.add_argument("--out", help=f"PNG path (default RUN/{name}.png)")
        sp.add_argument("--n", type=positive, help="how many examples / samples (grid: --grid)")
        sp.add_argument("--grid", type=positive, default=20,
                        help=f"manifold grid side (at most {MAX_GRID})")
        sp.add_argument("--seed", type=seed_value, default=0)
        sp.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
        sp.add_argument("--threads", type=positive, help="CPU threads (default: torch's choice)")
        if name == "confusion":
            sp.add_argument("--best", action="store_true",
                            help="use best.pt (best validation error)")
    return p


def _list(options: bool) -> int:
    if options:
        from ppvae.reference import options_markdown

        print(options_markdown(), end="")
        return 0
    for title, reg in [("models", MODELS), ("guides", GUIDES), ("elbos", ELBOS),
                       ("datasets", DATASETS)]:
        print(f"{title}:")
        for e in reg.entries():
            print(f"  {e.name:<12} {e.doc}")
    return 0


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` values, then those the shortcut flags stand for."""
    overrides = list(args.set)
    for flag, key in SHORTCUTS.items():
        value = getattr(args, flag, None)
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.tensorboard:
        overrides.append("train.tensorboard=true")
    if args.command == "ssl":
        if args.labels is not None:
            overrides.append(f"semi.labels={args.labels}")
        if args.seed is not None:
            overrides.append(f"semi.label_seed={args.seed}")
    return overrides


def _check_resume_flags(args: argparse.Namespace) -> None:
    """Refuse ``--resume`` without ``--out`` and ``--previous`` without ``--resume``."""
    if args.resume and not args.out:
        raise ConfigError("--resume needs --out RUN_DIR (the run to continue)")
    if args.previous and not args.resume:
        raise ConfigError("--previous goes with --resume")


def _base_config(args: argparse.Namespace) -> dict[str, Any]:
    """The config to train, as a dict: ``--config``'s, or the resumed run's own."""
    from ppvae.api import read_run_info
    from ppvae.config import load_config

    if args.config:
        raw: dict[str, Any] = load_config(args.config).to_dict()
        if args.command == "ssl" and "semi" not in raw:
            raise ConfigError(
                f"ssl needs a config with a [semi] table; {args.config} has none "
                "(see configs/m2_mnist.toml)"
            )
    elif args.resume:  # the run's own config; plugins only from --plugin
        raw = read_run_info(Path(args.out))[0].to_dict()
        raw["plugins"] = []
    else:
        raise ConfigError("train needs --config FILE (or --resume --out RUN_DIR)")
    return raw


def _remove_if_empty(out: Path) -> None:
    """Remove the folder made for a run if nothing was saved in it."""
    with contextlib.suppress(OSError):
        if not any(out.iterdir()):
            out.rmdir()


def _print_summary(run: Run) -> None:
    """The last epoch's test ELBO and, for a semi-supervised run, the best validation error."""
    last = run.metrics[-1]
    scores = [m for m in run.metrics if "test_elbo" in m]  # train.eval_every skips some
    bound = f", test ELBO {scores[-1]['test_elbo']:.3f} nats/example (epoch " \
        f"{scores[-1]['epoch']})" if scores else ""
    print(f"done: epoch {last['epoch']}{bound}; checkpoint {run.run_dir / CHECKPOINT}")
    scored = [m for m in run.metrics if "valid_error" in m]
    if scored:
        best = min(scored, key=lambda m: m["valid_error"])
        print(f"best validation error {best['valid_error']:.2%} at epoch {best['epoch']}: "
              f"test error {best.get('test_error', float('nan')):.2%} "
              f"(checkpoint {run.run_dir / BEST})")


def _train(args: argparse.Namespace) -> int:
    from ppvae.api import default_run_dir, fit
    from ppvae.distributed import world_from_env
    from ppvae.progress import TqdmHooks

    overrides = _overrides(args)
    _check_resume_flags(args)
    raw = apply_overrides(_base_config(args), overrides)
    plugins = [*raw.get("plugins", []), *(plugin_ref(p) for p in args.plugin)]
    raw["plugins"] = list(dict.fromkeys(plugins))
    cfg = from_dict(raw)
    rank, world, _ = world_from_env()
    if world > 1 and not args.out:
        raise ConfigError("a data-parallel run (torchrun) needs --out RUN_DIR: every process "
                          "must name the same folder")
    out = Path(args.out) if args.out else default_run_dir(cfg)
    main_process = rank == 0
    show = False if args.no_progress or not main_process else None
    hooks = TqdmHooks(show, header=f"run folder: {out}\nmodel {cfg.model.name}, guide "
                                   f"{cfg.guide.name}, elbo {cfg.train.elbo}"
                                   + (f", {world} processes" if world > 1 else ""))
    try:
        run = fit(cfg, out=out, data_dir=args.data_dir, resume=args.resume,
                  previous=args.previous, hooks=hooks,
                  upstream_hooks=TqdmHooks(show, header=f"preparing {cfg.data.name}: "
                                                        "training its model"))
    except BaseException:
        if not args.out:  # the folder made for this run: gone if nothing was saved in it
            _remove_if_empty(out)
        raise
    if run.metrics and main_process:
        _print_summary(run)
    return 0


def _export(args: argparse.Namespace) -> int:
    from ppvae.export import export_run

    limit = None if args.max_file_mb is None else int(args.max_file_mb * 1e6)
    out = export_run(args.run, args.out, BEST if args.best else CHECKPOINT,
                     max_file_bytes=limit)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"exported {args.run} ({BEST if args.best else CHECKPOINT}) to {out}: weights only, "
          f"{size / 1e6:.1f} MB")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from ppvae.api import load
    from ppvae.progress import counter

    run = load(args.run, checkpoint=BEST if args.best else CHECKPOINT,
               device=args.device)
    data = run.load_data(args.data_dir)
    if args.n and args.n > data.n_test:
        raise ConfigError(f"--n {args.n} is more than the run's {data.n_test} test examples")
    n = args.n or data.n_test
    torch.manual_seed(args.seed)
    if n < 2:
        raise ConfigError("evaluate needs at least 2 test examples (--n >= 2)")
    bar = counter(n, f"log p(x), k={args.k}", False if args.no_progress else None)
    result = run.evaluate(k=args.k, n=n, data=data, progress=bar.update)
    bar.close()
    elbo, seconds = result["test_elbo"], result["log_px_seconds"]
    print(f"test examples      {result['n_test']}")
    print(f"test ELBO          {elbo:.3f} nats/example ({run.config.train.elbo})")
    print(f"test log p(x)      {result['test_log_px']:.3f} nats/example "
          f"(importance sampled, k={args.k}; ±{result['test_log_px_stderr']:.3f} s.e.; "
          f"{seconds / 60:.1f} min on {result['device']}, {result['threads']} threads)")
    if "test_error" in result:
        print(f"test error         {result['test_error']:.2%} "
              f"(argmax of q(y|x), {n} images, "
              f"{'best-validation' if args.best else 'last'} checkpoint)")
    out = Path(run.run_dir) / f"evaluate-k{args.k}{f'-n{args.n}' if args.n else ''}.json"
    try:
        out.write_text(json.dumps(result, indent=2))
    except OSError as exc:
        raise RunError(f"the results above could not be saved to {out} ({exc.strerror or exc})"
                       ) from None
    print(f"saved {out}")
    return 0


def _figure(args: argparse.Namespace) -> int:
    from ppvae import plots
    from ppvae.api import load

    run = load(args.run, checkpoint=BEST if getattr(args, "best", False) else CHECKPOINT,
               device=args.device)
    torch.manual_seed(args.seed)
    spec, cmd = run.spec, args.command
    semi = run.config.semi
    if cmd == "confusion":
        from ppvae.evaluation import predict_logits

        if semi is None or not spec.num_classes:
            raise ConfigError("confusion needs a semi-supervised run on labelled data")
        data = run.load_data(args.data_dir)
        if data.y_test is None:
            raise ConfigError("confusion needs test labels; this run's data have none")
        pred = predict_logits(run.guide, data.x_test, semi.label_site).argmax(-1)
        fig = plots.confusion_figure(pred, data.y_test, spec.num_classes)
    elif cmd == "sample" and semi is not None and spec.num_classes:
        from ppvae.data import decode_features

        def to_images(x: torch.Tensor) -> tuple[torch.Tensor, Any]:
            decoded = decode_features(run.config.data, x, args.data_dir)
            return decoded if decoded is not None else (x, spec.image_shape)

        fig = plots.class_samples_figure(run.pair, spec.num_classes, args.n or 10, spec.x_dim,
                                         spec.image_shape, semi.label_site, to_images)
    elif cmd == "manifold":
        if args.grid > MAX_GRID:
            raise ConfigError(f"--grid {args.grid} would decode {args.grid ** 2:,} images into "
                              f"one picture; at most {MAX_GRID} (a {MAX_GRID}x{MAX_GRID} grid)")
        fig = plots.manifold_figure(run.pair, args.grid, spec.x_dim, spec.image_shape)
    elif cmd == "sample":
        # image data: no data needed; 2-D data: the samples are drawn over the test set
        x_test = run.load_data(args.data_dir).x_test if spec.image_shape is None else None
        fig = plots.samples_figure(run.pair, args.n or (100 if spec.image_shape else 2000),
                                   spec.x_dim, spec.image_shape, x_test)
    elif cmd == "reconstruct":
        data = run.load_data(args.data_dir)
        fig = plots.reconstructions_figure(run.pair, data.x_test[: args.n or 50], spec.image_shape)
    else:
        data = run.load_data(args.data_dir)
        n = args.n or 5000
        labels = data.y_test[:n] if data.y_test is not None else None
        fig = plots.embedding_figure(run.pair, data.x_test[:n], labels)
    path = plots.save(fig, args.out or Path(run.run_dir) / f"{cmd}.png")
    print(f"saved {path}")
    return 0


def _run(args: argparse.Namespace) -> int:
    """The sub-command ``args`` names."""
    if args.command not in ("train", "ssl", "list") and getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    load_plugins([plugin_ref(p) for p in args.plugin])
    if args.command == "list":
        return _list(args.options)
    if args.command in ("train", "ssl"):
        return _train(args)
    commands = {"evaluate": _evaluate, "export": _export}
    return commands.get(args.command, _figure)(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "keep_freed_memory", False):
        print("ppvae: malloc keeps freed memory for reuse" if keep_freed_memory() else
              "ppvae: --keep-freed-memory needs glibc's malloc; left as it is", file=sys.stderr)
    try:
        return _run(args)
    except PPVAEError as exc:
        print(f"ppvae: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a read-only or full file system, a folder where a file goes
        where = f" {exc.filename}" if exc.filename else ""
        out = getattr(args, "out", None)
        kept = " (the last good checkpoint is kept)" if args.command in ("train", "ssl") and \
            out and (Path(out) / CHECKPOINT).is_file() else ""
        print(f"ppvae: error: cannot write or read{where}: {exc.strerror or exc}{kept}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        saved = out and args.command in ("train", "ssl") and (Path(out) / CHECKPOINT).is_file()
        note = "; the last completed epoch's checkpoint is kept" if saved else ""
        print(f"ppvae: interrupted{note}", file=sys.stderr)
        return 130
