#!/usr/bin/env bash
# The exact commands behind the README's results and figures (run from the repo root,
# with PPVAE_DATA_DIR pointing at the data). Training runs take about:
# mnist_z50 80 s, mnist_z50_trace 80 s, mnist_z2 2 min, frey_z2 5 min, toy2d 30 s on 2 cores.
set -euo pipefail
ppvae train --config configs/mnist_z50.toml --out runs/mnist_z50                       # meanfield
ppvae train --config configs/mnist_z50.toml --elbo trace --out runs/mnist_z50_trace
python -m benchmarks.quality --epochs 20                                              # Pyro vae.py style
python -m benchmarks.plot_curves --run meanfield=runs/mnist_z50 --run trace=runs/mnist_z50_trace \
    --baseline benchmarks/results/quality_intel-xeon-avx512_2026-11-27.json --out docs/mnist_z50_curve.png
ppvae evaluate runs/mnist_z50 --k 1000
ppvae sample runs/mnist_z50 --out docs/mnist_z50_samples.png
ppvae reconstruct runs/mnist_z50 --n 30 --out docs/mnist_z50_reconstructions.png

ppvae train --config configs/mnist_z2.toml --out runs/mnist_z2
ppvae manifold runs/mnist_z2 --out docs/mnist_z2_manifold.png
ppvae embed runs/mnist_z2 --out docs/mnist_z2_embedding.png

ppvae train --config configs/frey_z2.toml --out runs/frey_z2
ppvae manifold runs/frey_z2 --out docs/frey_z2_manifold.png
ppvae sample runs/frey_z2 --n 64 --out docs/frey_z2_samples.png
ppvae reconstruct runs/frey_z2 --n 30 --out docs/frey_z2_reconstructions.png

ppvae train --config configs/toy2d.toml --out runs/toy2d
ppvae sample runs/toy2d --out docs/toy2d_samples.png
ppvae manifold runs/toy2d --out docs/toy2d_curve.png

# semi-supervised: M1 is trained by the first command and reused
ppvae ssl --config configs/m1m2_mnist.toml --labels 100 --seed 0 --out runs/m1m2_l100_s0
for s in 1 2; do ppvae ssl --config configs/m1m2_mnist.toml --labels 100 --seed $s --out runs/m1m2_l100_s$s; done
for l in 600 1000 3000; do ppvae ssl --config configs/m1m2_mnist.toml --labels $l --seed 0 --out runs/m1m2_l${l}_s0; done
python -m benchmarks.ssl_table runs/m1m2_l100_s0 runs/m1m2_l100_s1 runs/m1m2_l100_s2 \
    runs/m1m2_l600_s0 runs/m1m2_l1000_s0 runs/m1m2_l3000_s0
ppvae confusion runs/m1m2_l100_s0 --best --out docs/m1m2_l100_confusion.png
ppvae sample runs/m1m2_l100_s0 --n 10 --out docs/m1m2_l100_class_samples.png

# MNIST log-likelihood, ~3 h (VAE) and ~4.5 h (IWAE k=50) on one core; the k=5000 estimate 7-12 min
ppvae train --config configs/mnist_vae_budget.toml --out runs/mnist_vae_mf
ppvae train --config configs/mnist_vae_budget.toml --elbo trace --out runs/mnist_vae_trace
ppvae evaluate runs/mnist_vae_mf --k 5000
ppvae train --config configs/mnist_iwae_k50.toml --set model.output_bias=default --out runs/mnist_iwae_k50
ppvae evaluate runs/mnist_iwae_k50 --k 5000
python -m benchmarks.plot_curves --run "VAE meanfield, test ELBO=runs/mnist_vae_mf" \
    --run "VAE trace, test ELBO=runs/mnist_vae_trace" \
    --run "IWAE k=50, test k=50 bound=runs/mnist_iwae_k50" --ref -86.76 --ref -88.40 --ref -96.72 \
    --ylim -120 -85 --logx --title "MNIST 784-200-200-50 tanh, binarized, batch 100 (burda_scaled lr)" \
    --out docs/mnist_vae_ll_curve.png
ppvae train --config configs/toy2d_long.toml --out runs/toy2d_long
python -m benchmarks.toy2d_truth runs/toy2d_long --n 10000 --k 1000 --out docs/toy2d_truth.png
# M1+M2, 100 labels, seed 0: all 50 M1 units vs the 12 active ones (RESULTS §3)
ppvae ssl --config configs/m1m2_mnist.toml --labels 100 --seed 0 --set semi.alpha=1.0 \
    --epochs 150 --out runs/m1m2x_a1_l100_s0_e150
ppvae ssl --config configs/m1m2_active.toml --labels 100 --seed 0 --out runs/m1m2au_a1_l100_s0_e150
python -m benchmarks.plot_curves --metric valid_error \
    --run "M1+M2, all 50 units=runs/m1m2x_a1_l100_s0_e150" \
    --run "M1+M2, 12 active units=runs/m1m2au_a1_l100_s0_e150" --ref 3.33 --ylim 0 20 \
    --title "M1+M2, 100 labels, alpha=1, seed 0: validation error" --out docs/m1m2_l100_curve.png
# Burda et al.'s VAE on the paper's full schedule (~6 h on one core)
ppvae train --config configs/mnist_iwae_vae.toml --set model.output_bias=default --out runs/mnist_vae_full
ppvae evaluate runs/mnist_vae_full --k 5000
python -m benchmarks.plot_curves --run "VAE, test ELBO=runs/mnist_vae_full" --ref -86.76 --ref -87.65 \
    --ylim -110 -85 --logx --title "MNIST VAE 784-200-200-50, full schedule, batch 100" \
    --out docs/mnist_vae_full_curve.png
# the same with the decoder's output bias at the logit of the training pixel means (the config as it is)
ppvae train --config configs/mnist_iwae_vae.toml --out runs/mnist_vae_bias
ppvae evaluate runs/mnist_vae_bias --k 5000
python -m benchmarks.plot_curves --run "VAE, output bias at the data mean, test ELBO=runs/mnist_vae_bias" \
    --ref -86.76 --ref -87.65 --ylim -110 -85 --logx --title "MNIST VAE 784-200-200-50, full schedule, batch 100" \
    --out docs/mnist_vae_bias_curve.png
# M1+M2 with the m1m2_grey recipe against SGD steps (the binarized-input run: m1m2_active on
# the M1 of configs/m1_adam3e-4.toml, 150 epochs)
for s in 0 1; do ppvae ssl --config configs/m1m2_grey.toml --labels 100 --seed $s --out runs/m1m2g_l100_s$s; done
ppvae ssl --config configs/m1m2_active.toml --set data.run=runs/m1_adam3e-4 --set data.stage1=configs/m1_adam3e-4.toml \
    --labels 100 --seed 0 --out runs/m1m2au3_l100_s0
python -m benchmarks.plot_curves --metric valid_error --metric test_error --steps-per-epoch 250 \
    --run "binarized inputs, seed 0=runs/m1m2au3_l100_s0" --run "m1m2_grey, seed 0=runs/m1m2g_l100_s0" \
    --run "m1m2_grey, seed 1=runs/m1m2g_l100_s1" --ref 3.33 --ylim 0 16 \
    --title "M1+M2, 100 labels, M1 with Adam 3e-4: validation and test error" --out docs/m1m2_l100_steps.png
# M1+M2 with Kingma et al.'s batching, weight prior and closed-form KL
ppvae ssl --config configs/m1m2_kingma.toml --labels 100 --seed 0 --out runs/m1m2k_l100_s0
python -m benchmarks.plot_curves --metric valid_error --metric test_error --steps-per-epoch 100 \
    --run "m1m2_kingma, seed 0=runs/m1m2k_l100_s0" --ref 3.33 --ylim 0 16 \
    --title "M1+M2, 100 labels, m1m2_kingma: validation and test error" --out docs/m1m2_kingma_l100_steps.png
# the same with the 14 strong units only (data.min_std = 0.3), to epoch 580
ppvae ssl --config configs/m1m2_kingma.toml --labels 100 --seed 0 --set data.min_std=0.3 --out runs/m1m2k_ms03_l100_s0
python -m benchmarks.plot_curves --metric valid_error --metric test_error --steps-per-epoch 100 --max-epoch 580 \
    --run "m1m2_kingma, 26 units (min_std 0.1)=runs/m1m2k_l100_s0" \
    --run "m1m2_kingma, 14 units (min_std 0.3)=runs/m1m2k_ms03_l100_s0" --ref 3.33 --ylim 0 20 \
    --title "M1+M2, 100 labels, seed 0: all active units or the 14 strong ones" --out docs/m1m2_kingma_units_l100.png
# the 14-unit run at its full length, against the log of jonemeth/generative-models
# (git clone https://github.com/jonemeth/generative-models; `--resume --epochs 3000` continues the run)
python -m benchmarks.plot_curves --metric valid_error --metric test_error --steps-per-epoch 100 \
    --run "m1m2_kingma, 14 units, seed 0=runs/m1m2k_ms03_l100_s0" \
    --sslvae-log "jonemeth/generative-models=generative-models/ssl-vae/logs/sslvae_2layers_mnist_0100/version_0/log.txt" \
    --ref 3.33 --ylim 0 12 --title "M1+M2, 100 labels: ppvae and jonemeth/generative-models" \
    --out docs/m1m2_kingma_long_l100.png
# the standard deviations' link: softplus + 0.001, exp(logvar / 2), and the plain-PyTorch M2, on the same
# features and labelled images (jonemeth's draw), against their log
ppvae ssl --config configs/m1m2_grey600.toml --labels 100 --seed 0 --set semi.label_rng=numpy --out runs/m1m2g6np_l100_s0
ppvae ssl --config configs/m1m2_logvar.toml --labels 100 --seed 0 --out runs/m1m2g6nplv_l100_s0
python -m benchmarks.m2_plain runs/m1m2g6np_l100_s0 --out runs/m2plain_g6np_l100_s0
python -m benchmarks.plot_curves --metric test_error --max-epoch 450 \
    --run "softplus std + 0.001 (m1m2_grey600)=runs/m1m2g6np_l100_s0" \
    --run "exp(logvar / 2) stds (m1m2_logvar)=runs/m1m2g6nplv_l100_s0" \
    --run "plain-PyTorch M2 (benchmarks.m2_plain)=runs/m2plain_g6np_l100_s0" \
    --sslvae-log "jonemeth/generative-models log=generative-models/ssl-vae/logs/sslvae_2layers_mnist_0100/version_0/log.txt" \
    --ref 3.33 --ylim 0 16 --title "M2 on the grey600 features, jonemeth's 100 labels: test error" \
    --out docs/m1m2_scale_link_l100.png
# three label draws of m1m2_logvar against the same log, to epoch 760
for s in 1 2; do ppvae ssl --config configs/m1m2_logvar.toml --labels 100 --seed $s --out runs/m1m2lv_l100_s$s; done
python -m benchmarks.plot_curves --metric test_error --steps-per-epoch 100 --max-epoch 760 \
    --run "m1m2_logvar, seed 0 (their labelled images)=runs/m1m2g6nplv_l100_s0" \
    --run "m1m2_logvar, seed 1=runs/m1m2lv_l100_s1" --run "m1m2_logvar, seed 2=runs/m1m2lv_l100_s2" \
    --sslvae-log "jonemeth/generative-models log (seed 0)=generative-models/ssl-vae/logs/sslvae_2layers_mnist_0100/version_0/log.txt" \
    --ref 3.33 --ylim 2 10 --title "M1+M2, 100 labels, m1m2_logvar: test error of three label draws" \
    --out docs/m1m2_logvar_l100.png
# M2 on pixels: configs/m2_mnist.toml at 100 / 600 / 1000 / 3000 labels, m2_weighted at 100
for s in 1 2; do ppvae ssl --config configs/m2_mnist.toml --labels 100 --seed $s --out runs/m2_l100_s$s; done
for l in 600 1000 3000; do ppvae ssl --config configs/m2_mnist.toml --labels $l --seed 0 --out runs/m2_l${l}_s0; done
ppvae ssl --config configs/m2_weighted.toml --labels 100 --seed 0 --out runs/m2w_l100_s0
python -m benchmarks.plot_curves --metric valid_error --run "100 labels, seed 1=runs/m2_l100_s1" \
    --run "100 labels, seed 2=runs/m2_l100_s2" --run "600 labels=runs/m2_l600_s0" \
    --run "1000 labels=runs/m2_l1000_s0" --run "3000 labels=runs/m2_l3000_s0" \
    --run "100 labels, seed 0, labelled terms x250=runs/m2w_l100_s0" --ref 5 --ylim 0 75 \
    --title "M2 on MNIST pixels (configs/m2_mnist.toml): validation error" --out docs/m2_pixels_curve.png
# IWAE k = 5 with iwae and iwae_dreg, the first 100 epochs of the paper's schedule
ppvae train --config configs/mnist_iwae_k5.toml --set model.output_bias=default --epochs 100 --out runs/iwae_k5
ppvae train --config configs/mnist_iwae_k5.toml --set model.output_bias=default --epochs 100 \
    --elbo iwae_dreg --out runs/iwae_dreg_k5
python -m benchmarks.plot_curves --run "iwae, k = 5=runs/iwae_k5" --run "iwae_dreg, k = 5=runs/iwae_dreg_k5" \
    --no-ref --ylim -130 -90 --title "IWAE k = 5, the paper's schedule, seed 0: test bound (k = 5)" \
    --out docs/iwae_k5_dreg_curve.png
