"""Exceptions that ppvae raises for bad input; the CLI turns them into messages."""

from __future__ import annotations


class PPVAEError(Exception):
    """Base class of every error ppvae raises on purpose."""

    exit_code = 1


class ConfigError(PPVAEError, ValueError):
    """A configuration is malformed: unknown key, wrong type or bad value."""

    exit_code = 2


class UnknownNameError(ConfigError, KeyError):
    """A name (model, guide, ELBO, dataset, ...) is not registered."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        listing = ", ".join(valid) if valid else "(none registered)"
        super().__init__(f"unknown {kind} {name!r}; valid {kind} names: {listing}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class IncompatiblePairError(ConfigError):
    """A guide does not fit its model (latent sites or their shapes differ)."""


class DataNotFoundError(PPVAEError, FileNotFoundError):
    """Data files are missing and could not be downloaded."""

    exit_code = 2


class TrainingDiverged(PPVAEError, FloatingPointError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""

    def __init__(
        self, epoch: int, step: int | str, value: float, checkpoint: str | None, detail: str = ""
    ) -> None:
        self.epoch, self.step, self.value, self.checkpoint = epoch, step, value, checkpoint
        kept = f"; last good checkpoint kept at {checkpoint}" if checkpoint else ""
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"loss became {value} at epoch {epoch}, step {step}{why}{kept}. "
            "Try a smaller learning rate or a variance floor (model.min_scale)."
        )


class RunError(PPVAEError):
    """A run folder is missing, incomplete or does not fit the command."""

    exit_code = 2
