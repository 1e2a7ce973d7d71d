"""ATen's default CPU kernels against its AVX2 ones (``ATEN_CPU_CAPABILITY=avx2``).

    python -m benchmarks.speed_kernels [--rounds 3]

Alternates fresh processes with the default kernels and with the AVX2 ones: softplus on
1M floats (one thread), and one training epoch (the training part, from metrics.jsonl) of
the z = 50 MNIST VAE (configs/mnist_z50.toml, 2 threads) and of the IWAE paper's tanh VAE
(configs/mnist_iwae_vae.toml, 1 thread), each over the first 20,000 images. Prints the
median time of each and the ratio default / AVX2 (above 1: AVX2 is faster).
Writes benchmarks/results/speed_kernels_MACHINE_DATE.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import guarded, machine, positive, results_path

REPO = Path(__file__).resolve().parents[1]
SOFTPLUS = """
import time, torch
torch.set_num_threads(1)
x = torch.randn(1_000_000)
for _ in range(5):
    torch.nn.functional.softplus(x)
tic = time.perf_counter()
for _ in range(50):
    torch.nn.functional.softplus(x)
print((time.perf_counter() - tic) / 50)
"""
EPOCHS = {"mnist_z50 epoch (2 threads)": ("mnist_z50.toml", 2),
          "mnist_iwae_vae epoch (1 thread)": ("mnist_iwae_vae.toml", 1)}


def env_for(capability: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}
    if capability:
        env["ATEN_CPU_CAPABILITY"] = capability
    return env


def epoch(config: str, threads: int, capability: str | None, args: argparse.Namespace,
          out: Path) -> float:
    cmd = [sys.executable, "-m", "ppvae", "train", "--native-kernels", "--config",
           str(REPO / "configs" / config), "--epochs", "1", "--threads", str(threads),
           "--device", "cpu", "--set", "data.n_train=20000", "--set", "data.n_test=1000",
           "--out", str(out), "--no-progress"]
    if args.data_dir:
        cmd += ["--data-dir", args.data_dir]
    subprocess.run(cmd, env=env_for(capability), check=True, capture_output=True, cwd=REPO)
    return json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["seconds"]


@guarded
def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir")
    p.add_argument("--rounds", type=positive, default=3)
    p.add_argument("--out", default=str(results_path("speed_kernels")))
    args = p.parse_args()
    caps = {"default": None, "avx2": "avx2"}
    times: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for cap_name, cap in caps.items():
                out = subprocess.run([sys.executable, "-c", SOFTPLUS], env=env_for(cap),
                                     check=True, capture_output=True, text=True).stdout
                times.setdefault("softplus 1M floats (1 thread)", {}).setdefault(
                    cap_name, []).append(float(out))
                for name, (config, threads) in EPOCHS.items():
                    t = epoch(config, threads, cap, args, Path(tmp) / f"{name[:8]}-{cap_name}-{r}")
                    times.setdefault(name, {}).setdefault(cap_name, []).append(t)
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\n{'what':<34}{'default':>12}{'avx2':>12}{'default / avx2':>16}")
    for name, by_cap in times.items():
        d, a = statistics.median(by_cap["default"]), statistics.median(by_cap["avx2"])
        unit = 1e3 if d < 1 else 1.0
        print(f"{name:<34}{d * unit:>10.2f}{'ms' if unit > 1 else ' s':>2}"
              f"{a * unit:>10.2f}{'ms' if unit > 1 else ' s':>2}{d / a:>16.2f}")
    Path(args.out).write_text(json.dumps({"machine": machine(), **times}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
