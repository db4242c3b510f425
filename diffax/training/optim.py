"""Optimizer and learning-rate schedule from plain arguments (configs map onto these).

The schedule is linear warm-up from 0 to ``learning_rate`` over ``warmup_steps``, then
either constant or a cosine decay to ``learning_rate * final_lr_fraction`` at
``num_steps`` (Loshchilov & Hutter 2017, "SGDR"). Gradients are clipped by global norm
before the update when ``grad_clip > 0``.
"""

from __future__ import annotations

import optax

SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "adamw")


def make_lr_schedule(learning_rate: float, *, num_steps: int, warmup_steps: int = 0,
                     schedule: str = "constant", final_lr_fraction: float = 0.0) -> optax.Schedule:
    """Warm-up then constant or cosine learning rate as a function of the step."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown lr schedule {schedule!r}; valid choices: {list(SCHEDULES)}.")
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}.")
    if warmup_steps < 0 or num_steps <= 0:
        raise ValueError(f"need warmup_steps >= 0 and num_steps > 0, got warmup_steps="
                         f"{warmup_steps}, num_steps={num_steps}.")
    if not 0.0 <= final_lr_fraction <= 1.0:
        raise ValueError(f"final_lr_fraction must lie in [0, 1], got {final_lr_fraction}.")
    if schedule == "constant":
        main = optax.constant_schedule(learning_rate)
    else:
        main = optax.cosine_decay_schedule(learning_rate, max(num_steps - warmup_steps, 1),
                                           alpha=final_lr_fraction)
    if warmup_steps == 0:
        return main
    warm = optax.linear_schedule(0.0, learning_rate, warmup_steps)
    return optax.join_schedules([warm, main], [warmup_steps])


def make_optimizer(learning_rate: float, *, num_steps: int, optimizer: str = "adam",
                   warmup_steps: int = 0, schedule: str = "constant",
                   final_lr_fraction: float = 0.0, grad_clip: float = 1.0,
                   weight_decay: float = 0.0, b1: float = 0.9, b2: float = 0.999,
                   eps: float = 1e-8) -> tuple[optax.GradientTransformation, optax.Schedule]:
    """Return ``(tx, lr_schedule)``: Adam(W) with the schedule above and global-norm clipping."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid choices: {list(OPTIMIZERS)}.")
    if grad_clip < 0:
        raise ValueError(f"grad_clip must be >= 0 (0 disables clipping), got {grad_clip}.")
    lr = make_lr_schedule(learning_rate, num_steps=num_steps, warmup_steps=warmup_steps,
                          schedule=schedule, final_lr_fraction=final_lr_fraction)
    if optimizer == "adam":
        if weight_decay:
            raise ValueError("weight_decay needs optimizer='adamw' (plain Adam would fold it "
                             f"into the gradient); got weight_decay={weight_decay}.")
        opt = optax.adam(lr, b1=b1, b2=b2, eps=eps)
    else:
        opt = optax.adamw(lr, b1=b1, b2=b2, eps=eps, weight_decay=weight_decay)
    chain = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
    return optax.chain(*chain, opt), lr
