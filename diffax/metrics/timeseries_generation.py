"""Scores for generated time series: TimeGAN's discriminative and predictive scores
(Yoon, Jarrett & van der Schaar, 2019, "Time-series Generative Adversarial Networks",
Sec. 5), and the accuracy of a real-trained classifier on class-conditional draws.

Each score trains a small post-hoc network and reads its held-out performance. The
network is the paper's: one GRU layer (``flax.nnx.GRUCell`` scanned over time,
zero initial state) and a linear read-out, either of the last hidden state
(classifiers) or of every hidden state (the predictor). Training is Adam (learning
rate 1e-3, the paper's code) on random mini-batches, ``steps`` iterations in one jitted
``lax.scan``; everything is a function of ``key``, so a score is reproducible.

Windows are arrays (N, L, K) (N windows of L steps and K features; (N, L) is read as
K = 1). Real and generated windows must share L and K; their counts may differ.

**Preprocessing** (common to the three scores). Every feature is standardised with the
mean and standard deviation of the observed values of the real training windows, one
affine map applied to every set (it changes what the networks see, not what they can
learn). Mean absolute errors are reported in the units of the data; TimeGAN min-max
scales each data set to [0, 1] first, so scale the data the same way to compare
numbers with the literature.

**Missing values.** ``mask`` (real) and ``generated_mask`` (generated) are (N, L, K)
arrays of 0/1 (1 = observed). Missing values may be NaN; they are set to 0 (the real
mean, after standardising) and the mask is appended as K extra input channels. The
missingness pattern itself must not tell the sets apart, so when only ``mask`` is
given each generated window takes the mask of a real window drawn at random
(without replacement while there are enough); when only ``generated_mask`` is given
the real windows count as fully observed. Prediction errors are averaged over the
observed targets only.

**Splits.** A set that must be split is permuted at random and its first
``floor(N * train_fraction)`` windows train (TimeGAN's ``train_test_divide``, 0.8);
each part must keep at least one window.

Scores (``p`` = sigmoid of the classifier's logit, 1 = "real"):

* discriminative: a GRU classifier is trained on balanced mini-batches of
  ``batch_size`` real (label 1) and ``batch_size`` generated (label 0) training
  windows with the binary cross-entropy
  ``-mean_real log p(x) - mean_gen log(1 - p(x))``; on the held-out windows
  ``acc_real = mean[p > 1/2]``, ``acc_gen = mean[p <= 1/2]``,
  ``accuracy = (acc_real + acc_gen) / 2`` and ``score = |accuracy - 1/2|``
  (0 best, 1/2 worst). The balanced accuracy equals TimeGAN's plain accuracy when
  both held-out sets have the same size (as in the paper, N_real = N_gen) and keeps
  1/2 as chance otherwise.
* predictive ("train on synthetic, test on real"): a GRU predictor reads steps
  1..t and predicts step t + 1, trained with the L1 loss on every generated window;
  the score is its mean absolute error on the held-out real windows,
  ``MAE = sum m_{i,t+1,k} |x^_{i,t+1,k} - x_{i,t+1,k}| / sum m_{i,t+1,k}``
  (t = 1..L-1). The reference ("train on real, test on real") is the same predictor
  (same initial weights and batches) trained on the real training windows instead.
  ``target="all"`` (default) predicts every feature from every feature, so it works
  for univariate series; ``target="last"`` is the paper's variant: features
  1..K-1 up to step t predict feature K at step t + 1 (needs K >= 2). TimeGAN's
  network ends in a sigmoid (its data lie in [0, 1]) and tests on all real windows;
  here the read-out is linear and the test windows are the held-out real split, so
  both numbers are measured on the same windows.
* conditional class accuracy: a GRU classifier with C outputs is trained with the
  softmax cross-entropy on the labelled real training windows; it reports the
  fraction of generated windows classified as the label they were drawn for, and its
  accuracy on the held-out real windows as the reference (the best a perfect
  conditional generator can expect from this classifier).

These are host-level functions (they return Python floats), not for use under ``jit``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from diffax import checks
from diffax.metrics.anomaly import accuracy

__all__ = ["ClassAccuracy", "DiscriminativeScore", "PredictiveScore",
           "conditional_class_accuracy", "discriminative_score", "predictive_score"]

Array = jax.Array

_LEARNING_RATE = 1e-3  # TimeGAN: tf.train.AdamOptimizer() defaults
_EVAL_BATCH = 1024  # windows per evaluation block


class DiscriminativeScore(NamedTuple):
    """``score = |accuracy - 1/2|``; ``accuracy`` is the balanced held-out accuracy,
    the mean of ``real_accuracy`` (real windows called real) and
    ``generated_accuracy`` (generated windows called generated)."""
    score: float
    accuracy: float
    real_accuracy: float
    generated_accuracy: float


class PredictiveScore(NamedTuple):
    """``score``: MAE on held-out real windows of the predictor trained on the generated
    windows (TSTR); ``reference``: the same predictor trained on the real training
    windows (TRTR). A good generator has ``score`` close to ``reference``."""
    score: float
    reference: float


class ClassAccuracy(NamedTuple):
    """``accuracy``: fraction of generated windows the real-trained classifier assigns
    to their conditioning label; ``reference``: its accuracy on held-out real windows."""
    accuracy: float
    reference: float


# ---- the post-hoc network --------------------------------------------------------------


class _GRUNet(nnx.Module):
    """One GRU layer from a zero state, then a linear map of every hidden state
    (``per_step``) or of the last one."""

    def __init__(self, in_features: int, hidden: int, out_features: int, *,
                 per_step: bool, rngs: nnx.Rngs):
        self.hidden = hidden
        self.per_step = per_step
        self.cell = nnx.GRUCell(in_features, hidden, rngs=rngs)
        self.head = nnx.Linear(hidden, out_features, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        # A plain lax.scan over time (what nnx.RNN does, without its nnx.scan lifting,
        # which refuses parameters closed over from an enclosing lax.map).
        def step(h, x_t):
            h, _ = self.cell(h, x_t)
            return h, h

        h0 = jnp.zeros((x.shape[0], self.hidden), x.dtype)
        h_last, hs = jax.lax.scan(step, h0, jnp.swapaxes(x, 0, 1))
        return self.head(jnp.swapaxes(hs, 0, 1) if self.per_step else h_last)


def _init(key: Array, in_features: int, hidden: int, out_features: int, per_step: bool):
    net = _GRUNet(in_features, hidden, out_features, per_step=per_step,
                  rngs=nnx.Rngs(params=key))
    return nnx.split(net)  # (graphdef, parameters): the net holds nothing else


def _batch(key: Array, n: int, size: int) -> Array:
    """``size`` distinct indices in [0, n) (all of them, in order, when size == n)."""
    if size >= n:
        return jnp.arange(n)
    return jax.random.choice(key, n, (size,), replace=False)


def _adam(params, key: Array, loss_fn, steps: int, lr: Array):
    """``steps`` Adam updates of ``loss_fn(params, step_key)`` in one ``lax.scan``."""
    tx = optax.adam(lr)

    def step(carry, k):
        p, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(p, k)
        updates, state = tx.update(grads, state, p)
        return (optax.apply_updates(p, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)),
                                       jax.random.split(key, steps))
    return params, losses


_STATIC = ("graphdef", "steps", "batch_size")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _train_discriminator(graphdef, params, key, real, generated, lr, *, steps, batch_size):
    def loss_fn(p, k):
        kr, kg = jax.random.split(k)
        x = jnp.concatenate([real[_batch(kr, real.shape[0], batch_size)],
                             generated[_batch(kg, generated.shape[0], batch_size)]])
        logits = nnx.merge(graphdef, p)(x)[:, 0]  # one pass (half the compiled program)
        labels = (jnp.arange(x.shape[0]) < batch_size).astype(logits.dtype)
        # mean over real + mean over generated (the two halves have equal size)
        return 2.0 * jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))

    return _adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _train_predictor(graphdef, params, key, inputs, targets, weights, lr, *, steps,
                     batch_size):
    def loss_fn(p, k):
        idx = _batch(k, inputs.shape[0], batch_size)
        err = jnp.abs(nnx.merge(graphdef, p)(inputs[idx]) - targets[idx])
        w = weights[idx]
        return jnp.sum(w * err) / jnp.maximum(jnp.sum(w), 1.0)

    return _adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=_STATIC)
def _train_classifier(graphdef, params, key, inputs, labels, lr, *, steps, batch_size):
    def loss_fn(p, k):
        idx = _batch(k, inputs.shape[0], batch_size)
        logits = nnx.merge(graphdef, p)(inputs[idx])
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels[idx]))

    return _adam(params, key, loss_fn, steps, lr)


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _apply(graphdef, params, x):
    return jax.lax.map(lambda xi: nnx.merge(graphdef, params)(xi[None])[0], x,
                       batch_size=min(_EVAL_BATCH, x.shape[0]))


# ---- inputs ------------------------------------------------------------------------------


def _windows(fn: str, name: str, x) -> np.ndarray:
    x = np.asarray(x)
    checks.ndim(fn, name, x, (2, 3), "(N, L, K) or (N, L)")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.floating)
                               or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{fn}: {name} must hold real numbers, got dtype {x.dtype}.")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{fn}: {name} must hold at least one window of at least one step, "
                         f"got shape {x.shape}.")
    return x.astype(np.float32)


def _mask(fn: str, name: str, m, x_name: str, shape: tuple[int, ...]) -> np.ndarray:
    m = np.asarray(m)
    if m.shape != shape:
        raise ValueError(f"{fn}: {name} must have the shape of {x_name} {shape}, got shape "
                         f"{m.shape}.")
    if m.dtype != bool:
        bad = (m != 0) & (m != 1)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{fn}: {name} must contain only 0 and 1 (1 = observed), got "
                             f"{m[at].item()!r} at index {at}.")
    return m.astype(bool)


def _observed(fn: str, name: str, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """``x`` with its missing entries zeroed, after checking the observed ones."""
    bad = m & ~np.isfinite(x)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        hint = "" if not m.all() else " (mark missing values with a mask)"
        raise ValueError(f"{fn}: {name} must be finite where observed, got {x[at].item()} at "
                         f"index {at}{hint}.")
    return np.where(m, x, 0.0).astype(np.float32)


class _Data(NamedTuple):
    real: np.ndarray  # (N, L, K), missing entries 0
    real_mask: np.ndarray  # (N, L, K) bool
    generated: np.ndarray
    generated_mask: np.ndarray
    masked: bool  # append the masks as input channels


def _prepare(fn: str, real, generated, mask, generated_mask, key: Array) -> _Data:
    """Checked windows (N, L, K) and masks (module docstring, missing values)."""
    real = _windows(fn, "real", real)
    gen = _windows(fn, "generated", generated)
    r_shape, g_shape = real.shape, gen.shape
    if real.ndim == 2:
        real = real[..., None]
    if gen.ndim == 2:
        gen = gen[..., None]
    if real.shape[1:] != gen.shape[1:]:
        raise ValueError(f"{fn}: real and generated windows must have the same length L and "
                         f"features K, got shapes real {r_shape} and generated {g_shape}.")
    rm = None if mask is None else _mask(fn, "mask", mask, "real", r_shape).reshape(real.shape)
    gm = None if generated_mask is None else _mask(fn, "generated_mask", generated_mask,
                                                   "generated", g_shape).reshape(gen.shape)
    masked = rm is not None or gm is not None
    if rm is None:
        rm = np.ones(real.shape, bool)
    if gm is None:
        if mask is None:
            gm = np.ones(gen.shape, bool)
        else:  # the generated windows share the real missingness pattern
            n, m = real.shape[0], gen.shape[0]
            idx = np.asarray(jax.random.choice(key, n, (m,), replace=m > n))
            gm = rm[idx]
    real = _observed(fn, "real", real, rm)
    gen = _observed(fn, "generated", gen, gm)
    return _Data(real, rm, gen, gm, masked)


def _split(fn: str, name: str, n: int, train_fraction: float, key: Array):
    n_train = int(n * train_fraction)
    if n_train < 1 or n - n_train < 1:
        raise ValueError(f"{fn}: {name} needs at least one training and one held-out window "
                         f"with train_fraction={train_fraction}, got {n} windows ({n_train} "
                         f"training, {n - n_train} held out).")
    perm = np.asarray(jax.random.permutation(key, n))
    return perm[:n_train], perm[n_train:]


def _standardiser(x: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and standard deviation of the observed values (std 1 where a
    feature is constant or unobserved)."""
    count = m.sum(axis=(0, 1))
    mean = np.where(count > 0, (x * m).sum(axis=(0, 1)) / np.maximum(count, 1), 0.0)
    var = ((x - mean) ** 2 * m).sum(axis=(0, 1)) / np.maximum(count, 1)
    std = np.sqrt(var)
    std = np.where(std > 1e-8 * np.maximum(np.abs(mean), 1.0), std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def _features(x: np.ndarray, m: np.ndarray, mean, std, masked: bool) -> Array:
    """Network inputs: standardised values (0 where missing), then the mask channels."""
    z = np.where(m, (x - mean) / std, 0.0).astype(np.float32)
    if masked:
        z = np.concatenate([z, m.astype(np.float32)], axis=-1)
    return jnp.asarray(z)


def _common(fn: str, hidden, default_hidden: int, steps, batch_size, train_fraction):
    hidden = default_hidden if hidden is None else checks.positive_int(fn, "hidden", hidden)
    steps = checks.positive_int(fn, "steps", steps)
    batch_size = checks.positive_int(fn, "batch_size", batch_size)
    train_fraction = checks.probability(fn, "train_fraction", train_fraction, lo_open=True,
                                        hi_open=True)
    return hidden, steps, batch_size, train_fraction


# ---- scores ------------------------------------------------------------------------------


def discriminative_score(key: Array, real, generated, *, mask=None, generated_mask=None,
                         hidden: int | None = None, steps: int = 2000, batch_size: int = 128,
                         train_fraction: float = 0.8) -> DiscriminativeScore:
    """TimeGAN's discriminative score: how well a post-hoc GRU tells real windows from
    generated ones on held-out data (module docstring). 0 is best.

    Args:
      key: PRNG key (splits, initial weights, mini-batches, drawn masks).
      real: real windows (N, L, K) or (N, L); generated: (M, L, K) or (M, L).
      mask, generated_mask: optional 0/1 arrays of the shape of real / generated
        (1 = observed; missing values may be NaN).
      hidden: GRU width; None: TimeGAN's ``K // 2``, at least 1 (for univariate data
        a wider net, e.g. 8 or 16, is a stronger and fairer judge).
      steps: Adam iterations (TimeGAN: 2000).
      batch_size: real and generated windows per mini-batch, each (TimeGAN: 128).
      train_fraction: fraction of each set used for training (TimeGAN: 0.8).
    Returns:
      ``DiscriminativeScore(score, accuracy, real_accuracy, generated_accuracy)``.
    """
    fn = "discriminative_score"
    k_mask, k_real, k_gen, k_init, k_train = jax.random.split(key, 5)
    d = _prepare(fn, real, generated, mask, generated_mask, k_mask)
    n_features = d.real.shape[-1]
    hidden, steps, batch_size, train_fraction = _common(
        fn, hidden, max(n_features // 2, 1), steps, batch_size, train_fraction)
    r_train, r_test = _split(fn, "real", d.real.shape[0], train_fraction, k_real)
    g_train, g_test = _split(fn, "generated", d.generated.shape[0], train_fraction, k_gen)
    mean, std = _standardiser(d.real[r_train], d.real_mask[r_train])

    def feats(x, m, idx):
        return _features(x[idx], m[idx], mean, std, d.masked)

    xr_train, xr_test = feats(d.real, d.real_mask, r_train), feats(d.real, d.real_mask, r_test)
    xg_train = feats(d.generated, d.generated_mask, g_train)
    xg_test = feats(d.generated, d.generated_mask, g_test)
    graphdef, params = _init(k_init, xr_train.shape[-1], hidden, 1, per_step=False)
    params, _ = _train_discriminator(
        graphdef, params, k_train, xr_train, xg_train, jnp.float32(_LEARNING_RATE),
        steps=steps, batch_size=min(batch_size, len(r_train), len(g_train)))
    called_real_r = np.asarray(_apply(graphdef, params, xr_test))[:, 0] > 0
    called_real_g = np.asarray(_apply(graphdef, params, xg_test))[:, 0] > 0
    acc_r = accuracy(called_real_r, np.ones_like(called_real_r))
    acc_g = accuracy(called_real_g, np.zeros_like(called_real_g))
    acc = 0.5 * (acc_r + acc_g)
    return DiscriminativeScore(abs(acc - 0.5), acc, acc_r, acc_g)


def predictive_score(key: Array, real, generated, *, mask=None, generated_mask=None,
                     target: str = "all", hidden: int | None = None, steps: int = 5000,
                     batch_size: int = 128, train_fraction: float = 0.8) -> PredictiveScore:
    """TimeGAN's predictive score ("train on synthetic, test on real"), with the
    "train on real, test on real" reference (module docstring). Lower is better;
    read ``score`` against ``reference``.

    Args:
      key: PRNG key (split, initial weights, mini-batches, drawn masks).
      real: real windows (N, L, K) or (N, L), L >= 2; generated: (M, L, K) or (M, L).
      mask, generated_mask: optional 0/1 arrays of the shape of real / generated.
      target: ``"all"`` (next step of every feature) or ``"last"`` (TimeGAN: next step of
        feature K from features 1..K-1; K >= 2).
      hidden: GRU width; None: TimeGAN's ``K // 2``, at least 1 (widen it for
        univariate data).
      steps: Adam iterations for each of the two predictors (TimeGAN: 5000).
      batch_size: windows per mini-batch (TimeGAN: 128).
      train_fraction: fraction of the real windows for the reference's training; the
        rest are the test windows of both predictors.
    Returns:
      ``PredictiveScore(score, reference)``, mean absolute errors in data units.
    """
    fn = "predictive_score"
    checks.choice(fn, "target", target, ("all", "last"))
    k_mask, k_real, k_init, k_train = jax.random.split(key, 4)
    d = _prepare(fn, real, generated, mask, generated_mask, k_mask)
    n_len, n_features = d.real.shape[1:]
    if n_len < 2:
        raise ValueError(f"{fn}: windows must have at least 2 steps (L >= 2) to predict a "
                         f"next step, got L={n_len}.")
    if target == "last" and n_features < 2:
        raise ValueError(f"{fn}: target='last' predicts feature K from the other features "
                         f"and needs K >= 2, got K={n_features} (use target='all').")
    hidden, steps, batch_size, train_fraction = _common(
        fn, hidden, max(n_features // 2, 1), steps, batch_size, train_fraction)
    r_train, r_test = _split(fn, "real", d.real.shape[0], train_fraction, k_real)
    mean, std = _standardiser(d.real[r_train], d.real_mask[r_train])
    inputs_k = slice(None) if target == "all" else slice(0, n_features - 1)
    target_k = slice(None) if target == "all" else slice(n_features - 1, n_features)

    def pairs(x, m):
        """Inputs at steps 1..L-1; standardised targets and their weights at 2..L."""
        z = np.where(m, (x - mean) / std, 0.0).astype(np.float32)
        inp = z[:, :-1, inputs_k]
        if d.masked:
            inp = np.concatenate([inp, m[:, :-1, inputs_k].astype(np.float32)], axis=-1)
        return (jnp.asarray(inp), jnp.asarray(z[:, 1:, target_k]),
                jnp.asarray(m[:, 1:, target_k].astype(np.float32)))

    gen_in, gen_y, gen_w = pairs(d.generated, d.generated_mask)
    tr_in, tr_y, tr_w = pairs(d.real[r_train], d.real_mask[r_train])
    te_in, te_y, te_w = pairs(d.real[r_test], d.real_mask[r_test])
    if float(jnp.sum(te_w)) == 0:
        raise ValueError(f"{fn}: the held-out real windows have no observed target value; "
                         f"mask is too sparse for an error to be measured.")
    graphdef, params0 = _init(k_init, gen_in.shape[-1], hidden, gen_y.shape[-1], per_step=True)
    scale = jnp.asarray(std[target_k])  # standardised error -> data units

    def test_mae(inputs, y, w):
        params, _ = _train_predictor(graphdef, params0, k_train, inputs, y, w,
                                     jnp.float32(_LEARNING_RATE), steps=steps,
                                     batch_size=min(batch_size, inputs.shape[0]))
        err = jnp.abs(_apply(graphdef, params, te_in) - te_y) * scale
        return float(jnp.sum(err * te_w) / jnp.sum(te_w))

    return PredictiveScore(test_mae(gen_in, gen_y, gen_w), test_mae(tr_in, tr_y, tr_w))


def _labels(fn: str, name: str, labels, n: int, x_name: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.shape != (n,):
        raise ValueError(f"{fn}: {name} must have shape ({n},), one label per window of "
                         f"{x_name}, got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        raise ValueError(f"{fn}: {name} must be integers, got dtype {labels.dtype}.")
    if (labels < 0).any():
        i = int(np.flatnonzero(labels < 0)[0])
        raise ValueError(f"{fn}: {name} must be >= 0, got {labels[i]} at index {i}.")
    return labels.astype(np.int32)


def conditional_class_accuracy(key: Array, real, real_labels, generated, generated_labels, *,
                               num_classes: int | None = None, mask=None,
                               generated_mask=None, hidden: int = 32, steps: int = 2000,
                               batch_size: int = 128,
                               train_fraction: float = 0.8) -> ClassAccuracy:
    """Accuracy of a GRU classifier trained on labelled real windows, on generated
    windows and their conditioning labels (module docstring). Higher is better; read
    ``accuracy`` against ``reference``, the accuracy on held-out real windows.

    Args:
      key: PRNG key (split, initial weights, mini-batches, drawn masks).
      real: real windows (N, L, K) or (N, L); real_labels: (N,) integers in [0, C).
      generated: (M, L, K) or (M, L); generated_labels: (M,) the labels they were
        drawn for.
      num_classes: C; None: the largest label + 1.
      mask, generated_mask: optional 0/1 arrays of the shape of real / generated.
      hidden: GRU width.
      steps: Adam iterations; batch_size: windows per mini-batch.
      train_fraction: fraction of the real windows used for training.
    Returns:
      ``ClassAccuracy(accuracy, reference)``.
    """
    fn = "conditional_class_accuracy"
    k_mask, k_real, k_init, k_train = jax.random.split(key, 4)
    d = _prepare(fn, real, generated, mask, generated_mask, k_mask)
    y_real = _labels(fn, "real_labels", real_labels, d.real.shape[0], "real")
    y_gen = _labels(fn, "generated_labels", generated_labels, d.generated.shape[0],
                    "generated")
    largest = int(max(y_real.max(), y_gen.max()))
    if num_classes is None:
        if largest == 0:
            raise ValueError(f"{fn}: the labels name a single class (all 0); pass "
                             f"num_classes or labels of at least two classes.")
        num_classes = largest + 1
    num_classes = checks.integer(fn, "num_classes", num_classes, minimum=2)
    if largest >= num_classes:
        raise ValueError(f"{fn}: labels must be < num_classes={num_classes}, got label "
                         f"{largest}.")
    hidden, steps, batch_size, train_fraction = _common(fn, hidden, 32, steps, batch_size,
                                                        train_fraction)
    r_train, r_test = _split(fn, "real", d.real.shape[0], train_fraction, k_real)
    mean, std = _standardiser(d.real[r_train], d.real_mask[r_train])
    x_train = _features(d.real[r_train], d.real_mask[r_train], mean, std, d.masked)
    x_test = _features(d.real[r_test], d.real_mask[r_test], mean, std, d.masked)
    x_gen = _features(d.generated, d.generated_mask, mean, std, d.masked)
    graphdef, params = _init(k_init, x_train.shape[-1], hidden, num_classes, per_step=False)
    params, _ = _train_classifier(graphdef, params, k_train, x_train,
                                  jnp.asarray(y_real[r_train]), jnp.float32(_LEARNING_RATE),
                                  steps=steps, batch_size=min(batch_size, len(r_train)))

    def acc(x, y):  # multi-class (diffax.metrics.accuracy is for 0/1 labels)
        return float(np.mean(np.asarray(jnp.argmax(_apply(graphdef, params, x), -1)) == y))

    return ClassAccuracy(acc(x_gen, y_gen), acc(x_test, y_real[r_test]))
