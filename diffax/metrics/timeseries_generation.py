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
The network and its training are in :mod:`diffax.metrics.posthoc_gru`, the input
checks, masks, splits and standardisation in :mod:`diffax.metrics.timeseries_windows`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.metrics import posthoc_gru as gru
from diffax.metrics import timeseries_windows as tsw
from diffax.metrics.anomaly import accuracy

__all__ = ["ClassAccuracy", "DiscriminativeScore", "PredictiveScore",
           "conditional_class_accuracy", "discriminative_score", "predictive_score"]

Array = jax.Array

_LEARNING_RATE = 1e-3  # TimeGAN: tf.train.AdamOptimizer() defaults


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
    d = tsw.prepare(fn, real, generated, mask, generated_mask, k_mask)
    n_features = d.real.shape[-1]
    hidden, steps, batch_size, train_fraction = tsw.common_options(
        fn, hidden, max(n_features // 2, 1), steps, batch_size, train_fraction)
    r_train, r_test = tsw.split(fn, "real", d.real.shape[0], train_fraction, k_real)
    g_train, g_test = tsw.split(fn, "generated", d.generated.shape[0], train_fraction, k_gen)
    mean, std = tsw.standardiser(d.real[r_train], d.real_mask[r_train])

    def feats(x, m, idx):
        return tsw.features(x[idx], m[idx], mean, std, d.masked)

    xr_train, xr_test = feats(d.real, d.real_mask, r_train), feats(d.real, d.real_mask, r_test)
    xg_train = feats(d.generated, d.generated_mask, g_train)
    xg_test = feats(d.generated, d.generated_mask, g_test)
    graphdef, params = gru.init(k_init, xr_train.shape[-1], hidden, 1, per_step=False)
    params, _ = gru.train_discriminator(
        graphdef, params, k_train, xr_train, xg_train, jnp.float32(_LEARNING_RATE),
        steps=steps, batch_size=min(batch_size, len(r_train), len(g_train)))
    called_real_r = np.asarray(gru.apply(graphdef, params, xr_test))[:, 0] > 0
    called_real_g = np.asarray(gru.apply(graphdef, params, xg_test))[:, 0] > 0
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
    d = tsw.prepare(fn, real, generated, mask, generated_mask, k_mask)
    n_len, n_features = d.real.shape[1:]
    if n_len < 2:
        raise ValueError(f"{fn}: windows must have at least 2 steps (L >= 2) to predict a "
                         f"next step, got L={n_len}.")
    if target == "last" and n_features < 2:
        raise ValueError(f"{fn}: target='last' predicts feature K from the other features "
                         f"and needs K >= 2, got K={n_features} (use target='all').")
    hidden, steps, batch_size, train_fraction = tsw.common_options(
        fn, hidden, max(n_features // 2, 1), steps, batch_size, train_fraction)
    r_train, r_test = tsw.split(fn, "real", d.real.shape[0], train_fraction, k_real)
    mean, std = tsw.standardiser(d.real[r_train], d.real_mask[r_train])
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
    graphdef, params0 = gru.init(k_init, gen_in.shape[-1], hidden, gen_y.shape[-1], per_step=True)
    scale = jnp.asarray(std[target_k])  # standardised error -> data units

    def test_mae(inputs, y, w):
        params, _ = gru.train_predictor(graphdef, params0, k_train, inputs, y, w,
                                     jnp.float32(_LEARNING_RATE), steps=steps,
                                     batch_size=min(batch_size, inputs.shape[0]))
        err = jnp.abs(gru.apply(graphdef, params, te_in) - te_y) * scale
        return float(jnp.sum(err * te_w) / jnp.sum(te_w))

    return PredictiveScore(test_mae(gen_in, gen_y, gen_w), test_mae(tr_in, tr_y, tr_w))


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
    d = tsw.prepare(fn, real, generated, mask, generated_mask, k_mask)
    y_real = tsw.check_labels(fn, "real_labels", real_labels, d.real.shape[0], "real")
    y_gen = tsw.check_labels(fn, "generated_labels", generated_labels, d.generated.shape[0],
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
    hidden, steps, batch_size, train_fraction = tsw.common_options(fn, hidden, 32, steps, batch_size,
                                                        train_fraction)
    r_train, r_test = tsw.split(fn, "real", d.real.shape[0], train_fraction, k_real)
    mean, std = tsw.standardiser(d.real[r_train], d.real_mask[r_train])
    x_train = tsw.features(d.real[r_train], d.real_mask[r_train], mean, std, d.masked)
    x_test = tsw.features(d.real[r_test], d.real_mask[r_test], mean, std, d.masked)
    x_gen = tsw.features(d.generated, d.generated_mask, mean, std, d.masked)
    graphdef, params = gru.init(k_init, x_train.shape[-1], hidden, num_classes, per_step=False)
    params, _ = gru.train_classifier(graphdef, params, k_train, x_train,
                                  jnp.asarray(y_real[r_train]), jnp.float32(_LEARNING_RATE),
                                  steps=steps, batch_size=min(batch_size, len(r_train)))

    def acc(x, y):  # multi-class (diffax.metrics.accuracy is for 0/1 labels)
        return float(np.mean(np.asarray(jnp.argmax(gru.apply(graphdef, params, x), -1)) == y))

    return ClassAccuracy(acc(x_gen, y_gen), acc(x_test, y_real[r_test]))
