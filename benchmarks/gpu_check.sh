#!/usr/bin/env bash
# On a machine with a CUDA GPU (torch, pyro-ppl and the data at hand): the gpu-marked tests,
# then the CUDA epoch against plain PyTorch at batch 128 and 1024 and the k = 5000 log p(x)
# over all 10,000 test images. Results: benchmarks/results/speed-cuda_GPU_DATE.json.
set -euo pipefail
cd "$(dirname "$0")/.."
export PPVAE_DATA_DIR="${PPVAE_DATA_DIR:-$(cd .. && pwd)/shared/data}" PPVAE_OFFLINE=1 MPLBACKEND=Agg
python -m pip install -q --no-deps -e .
nvidia-smi --query-gpu=name,memory.total --format=csv
python -m pytest -q -p no:cacheprovider -m gpu
python -m benchmarks.speed --data-dir "$PPVAE_DATA_DIR" --device cuda --batch 128 --batch 1024 \
    --rounds 3 --ll-images 10000 --out "benchmarks/results/speed-cuda_$(python -c \
    'import re, torch; print(re.sub("[^a-z0-9]+", "-", torch.cuda.get_device_name().lower()))')_$(date +%F).json"
