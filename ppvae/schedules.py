"""Learning-rate schedules by epoch."""

from __future__ import annotations

from ppvae.errors import ConfigError

SCHEDULES = ("constant", "burda", "burda_scaled")
BURDA_EPOCHS = 3280


def burda_stage(epoch: int) -> int:
    """Stage i of Burda et al. (2015): epochs are grouped in runs of 3**i, i = 0, 1, ...."""
    if epoch < 1:
        raise ConfigError(f"epochs count from 1; got {epoch}")
    stage, end = 0, 1
    while epoch > end:
        stage += 1
        end += 3**stage
    return stage


def learning_rate(schedule: str, base: float, epoch: int, epochs: int = BURDA_EPOCHS) -> float:
    """The learning rate for ``epoch`` (from 1) of a run of ``epochs`` epochs.

    ``burda``: ``base * 10**(-i/7)`` over 3**i epochs for stage i (3,280 epochs for i <= 7;
    later epochs keep decaying the same way). ``burda_scaled``: the same eight stages
    stretched or shrunk in proportion to fit ``epochs`` (equal to ``burda`` at 3,280).
    """
    if schedule == "constant":
        return base
    if schedule == "burda":
        return base * 10 ** (-burda_stage(epoch) / 7)
    if schedule == "burda_scaled":
        if not 1 <= epoch <= epochs:
            raise ConfigError(f"epoch {epoch} outside 1..{epochs}")
        paper_epoch = (epoch - 1) * BURDA_EPOCHS // epochs + 1
        return base * 10 ** (-burda_stage(paper_epoch) / 7)
    raise ConfigError(f"unknown lr schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
