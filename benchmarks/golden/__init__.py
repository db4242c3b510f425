"""Golden outputs: record what the library computes on fixed problems, compare later.

Issue 16 (one architecture for tasks, objectives, process families and samplers) must
not change any result. This package records, in float64 with fixed seeds, the outputs
of every registered sampler, loss, likelihood estimator and inverse solver on small
exact-oracle problems, plus the parameters after 50 training steps of two configs, and
later recomputes them on a new tree and compares::

    python -m benchmarks.golden record --out docs/benchmarks/golden/golden.npz [--only PATTERN]
    python -m benchmarks.golden compare docs/benchmarks/golden/golden.npz [--only PATTERN] [--rtol 1e-12]
    python -m benchmarks.golden compare OLD.npz --against NEW.npz   # two recordings, no computing
    python -m benchmarks.golden list [--only PATTERN]              # what would be recorded

Entries are named ``<group>/...`` (see :data:`benchmarks.golden.cases.GROUPS`), e.g.
``sampler/ddim/nfe6/x``, ``loss/dsm/eps/snr/antithetic/vp_linear/value``,
``train/gmm2d/params/<path>``. ``--only`` takes a shell pattern (``fnmatch``; ``*``
also matches ``/``) on entry names and may be repeated; a pattern that matches no entry
is an error that lists the groups. Only the computations behind the selected entries
run, so ``--only 'sampler/ddim/*'`` takes seconds.

``compare`` recomputes the selected entries (by default those of the golden file's own
``--only``) and prints one row per entry: name, max abs diff, max rel diff (relative to
``max(|golden|, tiny)``) and a status: ``identical`` (bitwise), ``within_rtol``,
``FAIL`` (over ``--rtol``/``--atol``, or another shape or dtype, or NaNs elsewhere),
``MISSING`` (in the golden file, not computed now: a removed sampler or loss is a
failure to explain, never a silent pass) or ``NEW`` (computed now, not in the golden
file). It ends with the counts of each and exits 1 if anything failed, is missing or
is new; bad arguments exit 2.

The file is an ``.npz`` with one array per entry and a ``__meta__`` entry holding JSON
(jax/jaxlib versions, CPU model and SIMD flags, device count, git commit, date, the
x64 flag, the problems' settings, the ``--only`` patterns and what was skipped). The
``train`` group runs with x64 off (float32, as ``make run`` does); the other groups in
float64. Goldens are specific to the machine that recorded them: XLA:CPU code
generation differs by an ulp between CPUs (AVX2 vs AVX-512), so compare on the
recording machine. See docs/golden_outputs.md.

Modules: ``common`` (the case unit, seeds, the 2-D mixture oracle, x64 switch), one
module per group (``samplers``, ``schedules``, ``losses``, ``likelihood``, ``inverse``,
``train``), ``cases`` (the groups, every case, ``--only`` selection), ``record``
(computing and its metadata), ``store`` (the ``.npz`` file), ``compare`` (rows, table,
counts) and ``cli`` (the command line).
"""
