"""The computations of a golden recording: the groups, every :class:`Case` in recording
order, and the selection of cases and entries by ``--only`` shell patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from benchmarks.golden.common import Case, Problems, x64_enabled
from benchmarks.golden.inverse import inverse_cases
from benchmarks.golden.likelihood import likelihood_cases
from benchmarks.golden.losses import loss_cases
from benchmarks.golden.samplers import sampler_cases
from benchmarks.golden.schedules import schedule_cases
from benchmarks.golden.train import train_cases

#: Entry groups (the first component of every entry name), in recording order.
GROUPS: dict[str, str] = {
    "sampler": "every registered sampler at two NFE budgets on the 2-D mixture "
               "(VPLinear, eps model): final x, nfe, steps",
    "sampler_kind": "three samplers with an x0 / v / score / velocity model",
    "sampler_process": "four samplers on every other registered process",
    "schedule": "every timestep schedule on every process that accepts it",
    "loss": "every loss x kind x weighting x time sampling x supported process on a "
            "fixed batch: value and per-example auxiliaries; dsm gradients of a linear "
            "model",
    "likelihood": "PF-ODE (exact trace, Hutchinson), bits/dim, continuous and discrete "
                  "ELBO, Ito density",
    "inverse": "replacement, RePaint, DPS, PiGDM, RED-diff, steered (inpainting, random "
               "projection); PiGDM, DPS and steered guidance with three samplers",
    "train": "parameters and EMA after 50 training steps of configs/toy/gmm2d.py and "
             "configs/image/fashion_mnist_edm.py (float32)",
}


def all_cases(probs: Problems | None = None, skipped: list[dict] | None = None) -> list[Case]:
    """Every computation of a full recording, in group order (call with x64 on);
    combinations a library function refuses are appended to ``skipped``."""
    probs = Problems() if probs is None else probs
    skipped = [] if skipped is None else skipped
    return (sampler_cases(probs) + schedule_cases(skipped) + loss_cases(probs, skipped)
            + likelihood_cases(probs) + inverse_cases() + train_cases())


def list_cases() -> list[Case]:
    """The case list (no computation), for pattern checks and error messages."""
    with x64_enabled(True):
        return all_cases()


def _pattern_cuts(pattern: str) -> list[str]:
    """The prefixes of ``pattern`` at which an entry name ``case/rest`` may be split
    into a part matching the case prefix and a part matching ``/rest``: before a
    ``/``, ``?``, ``[`` or ``*`` and just after a ``*`` (a star may span the slash)."""
    cuts = {pattern}
    for i, ch in enumerate(pattern):
        if ch in "/?[*":
            cuts.add(pattern[:i])
        if ch == "*":
            cuts.add(pattern[:i + 1])
    return sorted(c for c in cuts if c)


def case_selected(prefix: str, patterns: Sequence[str] | None) -> bool:
    """Whether an entry ``prefix/...`` could match one of ``patterns`` (None: all).
    Conservative: it may select a case none of whose entries match, never the
    reverse; entries are filtered by :func:`entry_selected` afterwards."""
    if not patterns:
        return True
    return any(fnmatch.fnmatchcase(prefix, cut) for pat in patterns for cut in _pattern_cuts(pat))


def entry_selected(name: str, patterns: Sequence[str] | None) -> bool:
    """Whether entry ``name`` matches one of the shell ``patterns`` (None: all)."""
    return not patterns or any(fnmatch.fnmatchcase(name, pat) for pat in patterns)


def group_counts(names: Iterable[str]) -> dict[str, int]:
    """How many of ``names`` (entry names or case prefixes) fall in each group."""
    counts: dict[str, int] = {}
    for n in names:
        g = n.split("/", 1)[0]
        counts[g] = counts.get(g, 0) + 1
    return counts


def _groups_help(cases: Sequence[Case]) -> str:
    """The groups with their number of computations, for a pattern error."""
    counts = group_counts(c.prefix for c in cases)
    lines = [f"  {g}/ ({counts.get(g, 0)} computations): {GROUPS[g]}" for g in GROUPS]
    return ("entry names start with a group; available groups:\n" + "\n".join(lines)
            + "\nexamples: --only 'sampler/ddim/*' --only 'loss/dsm/eps/snr/*' "
              "--only 'train/gmm2d/*' (python -m benchmarks.golden list shows "
              "every computation)")


def select_cases(cases: Sequence[Case], patterns: Sequence[str] | None) -> list[Case]:
    """The cases behind ``patterns``; a pattern that selects none is a ValueError
    naming it and listing the groups."""
    for pat in patterns or ():
        if not any(case_selected(c.prefix, [pat]) for c in cases):
            raise ValueError(f"--only {pat!r} matches no golden entry.\n{_groups_help(cases)}")
    return [c for c in cases if case_selected(c.prefix, patterns)]


def check_patterns_matched(names: Iterable[str], patterns: Sequence[str] | None,
                           cases: Sequence[Case]) -> None:
    """A ValueError if a pattern matched none of the entry ``names``."""
    names = list(names)
    for pat in patterns or ():
        if not any(fnmatch.fnmatchcase(n, pat) for n in names):
            raise ValueError(f"--only {pat!r} matches no golden entry.\n{_groups_help(cases)}")
