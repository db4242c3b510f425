"""benchmarks/mutation_prepare.py: the rewrite that lets mutmut see registered functions
registers the same objects under the same names in the same order, and leaves every
function body as it was."""

import ast
import glob
import textwrap

import pytest

from benchmarks.mutation_prepare import undecorate

SOURCE = textwrap.dedent('''
    REG = []


    def register(name, **kw):
        def deco(fn):
            REG.append((name, kw, fn.__name__, fn))
            return fn
        return deco


    @register("a", order=2, options=dict(x=1,
                                         y=2))
    @register("b", order=3)
    def f(v):
        return v + 1


    @register("c")
    def g(v):
        # a comment inside
        return f(v) * 2


    SEEN_AT_DEFINITION = [r[0] for r in REG]


    def h(v):
        return v
''')


def _run(source):
    namespace = {}
    exec(compile(source, "<module>", "exec"), namespace)
    return namespace


def test_same_registrations_in_the_same_order():
    before, after = _run(SOURCE), _run(undecorate(SOURCE))
    strip = [(n, kw, fn_name) for n, kw, fn_name, _ in before["REG"]]
    assert strip == [("b", {"order": 3}, "f"), ("a", {"order": 2, "options": {"x": 1, "y": 2}},
                                                 "f"), ("c", {}, "g")]
    assert [(n, kw, fn_name) for n, kw, fn_name, _ in after["REG"]] == strip
    # what the module computes after the definitions sees the same registry
    assert after["SEEN_AT_DEFINITION"] == before["SEEN_AT_DEFINITION"] == ["b", "a", "c"]
    assert after["g"](3) == before["g"](3) == 8
    assert "@register" not in undecorate(SOURCE)


def test_other_decorators_are_refused_when_mixed_and_kept_otherwise():
    mixed = "@register('a')\n@staticmethod\ndef f():\n    pass\n"
    with pytest.raises(ValueError, match="f \\(line 3\\) mixes @register"):
        undecorate(mixed)
    other = "import functools\n\n\n@functools.cache\ndef f():\n    return 1\n"
    assert undecorate(other) == other


def _functions(source):
    return {n.name: ast.dump(ast.Module(body=n.body, type_ignores=[]))
            for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}


def _registrations(tree_source, rewritten):
    """(function, decorator source) pairs: from the decorators of the original, from the
    ``f = register(...)(f)`` assignments of the rewrite."""
    if not rewritten:
        out = []
        for n in ast.parse(tree_source).body:
            if isinstance(n, ast.FunctionDef):
                out += [(n.name, ast.unparse(d)) for d in reversed(n.decorator_list)
                        if isinstance(d, ast.Call)
                        and getattr(d.func, "id", "").startswith("register")]
        return out
    out = []
    for n in ast.parse(tree_source).body:
        if (isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)
                and isinstance(n.value.func, ast.Call)
                and getattr(n.value.func.func, "id", "").startswith("register")):
            out.append((n.targets[0].id, ast.unparse(n.value.func)))
    return out


@pytest.mark.parametrize("path", sorted(glob.glob("diffax/samplers/*.py")
                                        + glob.glob("diffax/inverse/*.py")))
def test_library_files_keep_their_bodies_and_registrations(path):
    with open(path) as f:
        source = f.read()
    new = undecorate(source)
    assert "\n@register" not in new
    assert _functions(new) == _functions(source)
    assert _registrations(new, True) == _registrations(source, False)


LISTING = ("import diffax.samplers.registry as s, diffax.inverse.registry as i; "
           "print([(n, v.fn.__name__, v.order, sorted(v.options)) for n, v in "
           "s.SAMPLERS.items()]); print(list(i.SOLVERS)); "
           "import inspect, diffax.samplers.unipc as u; print('@register' in inspect.getsource(u))")


def test_a_rewritten_copy_registers_the_same_samplers_and_solvers(tmp_path):
    """The whole rewrite of ``make mutation``: a copy of diffax/ with every sampler and
    inverse file rewritten imports and lists the same registries, in the same order."""
    import shutil
    import subprocess
    import sys

    shutil.copytree("diffax", tmp_path / "diffax",
                    ignore=shutil.ignore_patterns("__pycache__"))
    files = sorted(glob.glob(str(tmp_path / "diffax/samplers/*.py"))
                   + glob.glob(str(tmp_path / "diffax/inverse/*.py")))
    subprocess.run([sys.executable, "-m", "benchmarks.mutation_prepare", *files], check=True)
    with open(tmp_path / "diffax/samplers/unipc.py") as f:
        assert "\n@register" not in f.read()
    env = {"JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    run = lambda cwd: subprocess.run([sys.executable, "-c", LISTING], cwd=cwd, env=env,  # noqa: E731
                                     check=True, capture_output=True, text=True).stdout
    original, rewritten = run(".").split("\n"), run(tmp_path).split("\n")
    assert original[2] == "True" and rewritten[2] == "False"  # the copy is what was imported
    assert rewritten[:2] == original[:2] and original[0].count("(") > 40
