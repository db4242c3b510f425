"""tpu_scripts/*.sh with a stub ``gcloud`` first on PATH (no network, no cloud).

The stub appends its argv as one JSON line to a log, so each test asserts on the exact
gcloud commands a script runs. The worker side of provision.sh (the ssh ``--command``)
is then run by /bin/sh in a sandbox whose PATH holds only logging stubs of sudo,
apt-get, add-apt-repository, git, hostname, python3 and python3.11, which checks that
Python 3.11 is installed before the virtualenv is made with it, and the failure message
when it cannot be installed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "tpu_scripts"
BASH = shutil.which("bash")
SH = "/bin/sh" if os.path.exists("/bin/sh") else BASH

# One stub program for every faked command: logs {"cmd", "argv", "cwd"} as a JSON line
# to $STUB_LOG, then acts like a minimal version of the command it stands for.
STUB = r'''#!{python}
import json, os, re, sys
name = os.path.basename(sys.argv[0])
# the file itself: "py_ok" is an interpreter whose `-c` checks (version, venv) pass
interpreter = os.path.basename(os.path.realpath(sys.argv[0])) == "py_ok"
args = sys.argv[1:]
with open(os.environ["STUB_LOG"], "a") as log:
    log.write(json.dumps({{"cmd": name, "argv": args, "cwd": os.getcwd()}}) + "\n")
bindir = os.environ.get("STUB_BIN", "")

def make(path, target="stub"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.remove(path)
    os.symlink(os.path.join(bindir, target), path)

if name == "gcloud":
    sys.exit(int(os.environ.get("GCLOUD_RC", "0")))
if name == "hostname":
    print("t1v-n-worker-0")
elif name == "sudo":
    while args[:1] == ["-n"]:
        args.pop(0)
    env = dict(os.environ)
    while args and "=" in args[0]:
        key, _, value = args.pop(0).partition("=")
        env[key] = value
    os.execvpe(args[0], args, env)
elif name == "apt-get":
    if "install" in args:
        if os.environ.get("APT_FAIL"):
            print("E: Unable to locate package", args[-1], file=sys.stderr)
            sys.exit(100)
        for pkg in args[args.index("install") + 1:]:
            if re.fullmatch(r"python3\.\d+", pkg):
                make(os.path.join(bindir, pkg), "py_ok")
elif name == "git":
    if args[:1] == ["clone"]:
        os.makedirs(args[2])
elif interpreter:
    if args[:1] == ["-m"] and args[1] == "venv":
        venv = args[-1]
        make(os.path.join(venv, "bin", "python"), "py_ok")
        make(os.path.join(venv, "bin", "pip"))
elif name == "python3":  # the image's Python 3.10
    if args[:1] == ["--version"]:
        print("Python 3.10.12")
    elif args[:1] == ["-c"]:
        sys.exit(1)
'''


def _write_exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def stubs(tmp_path):
    """A bin dir of stub commands; ``stubs.bin``, ``stubs.log``, ``stubs.calls()``."""
    class Stubs:
        bin = tmp_path / "bin"
        log = tmp_path / "calls.jsonl"

        def calls(self, cmd=None):
            if not self.log.exists():
                return []
            rows = [json.loads(line) for line in self.log.read_text().splitlines()]
            return [r for r in rows if cmd is None or r["cmd"] == cmd]

        def add(self, *names, target="stub"):
            for name in names:
                (self.bin / name).unlink(missing_ok=True)
                (self.bin / name).symlink_to(self.bin / target)

    s = Stubs()
    s.bin.mkdir()
    for name in ("stub", "py_ok"):  # same program; "py_ok" acts as a working Python
        _write_exe(s.bin / name, STUB.format(python=sys.executable))
    s.add("gcloud")
    return s


def run_script(stubs, name, *args, **env):
    """Run tpu_scripts/<name> with bash, the stub gcloud first on PATH and a clean TPU
    environment plus ``env``; returns the CompletedProcess."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("TPU_NAME", "ZONE", "ACCELERATOR_TYPE", "RUNTIME_VERSION",
                         "REPO_URL", "REPO_DIR", "BUCKET", "SPOT")}
    base.update(PATH=f"{stubs.bin}{os.pathsep}{os.environ['PATH']}",
                STUB_LOG=str(stubs.log), STUB_BIN=str(stubs.bin))
    base.update(env)
    return subprocess.run([BASH, str(SCRIPTS / name), *args], capture_output=True,
                          text=True, env=base, cwd=stubs.bin.parent, timeout=30)


def gcloud_ssh_command(stubs) -> tuple[list[str], str]:
    """(the one recorded gcloud argv, the value of its --command flag)."""
    (call,) = stubs.calls("gcloud")
    argv = call["argv"]
    (cmd,) = [a[len("--command="):] for a in argv if a.startswith("--command=")]
    return argv, cmd


TPU = dict(TPU_NAME="my-tpu", ZONE="europe-west4-a", ACCELERATOR_TYPE="v5litepod-16")


# ---- create / delete ------------------------------------------------------------------

def test_create_passes_zone_accelerator_version_and_spot(stubs):
    proc = run_script(stubs, "create.sh", **TPU)
    assert proc.returncode == 0, proc.stderr
    (call,) = stubs.calls("gcloud")
    assert call["argv"] == ["compute", "tpus", "tpu-vm", "create", "my-tpu",
                            "--zone=europe-west4-a", "--accelerator-type=v5litepod-16",
                            "--version=tpu-ubuntu2204-base", "--spot"]


def test_create_defaults_and_on_demand_with_empty_spot(stubs):
    proc = run_script(stubs, "create.sh", SPOT="", RUNTIME_VERSION="v2-alpha-tpuv5-lite")
    assert proc.returncode == 0, proc.stderr
    (call,) = stubs.calls("gcloud")
    assert call["argv"] == ["compute", "tpus", "tpu-vm", "create", "diffax-v4-32",
                            "--zone=us-central2-b", "--accelerator-type=v4-32",
                            "--version=v2-alpha-tpuv5-lite"]  # SPOT= : no --spot


def test_delete(stubs):
    proc = run_script(stubs, "delete.sh", **TPU)
    assert proc.returncode == 0, proc.stderr
    (call,) = stubs.calls("gcloud")
    assert call["argv"] == ["compute", "tpus", "tpu-vm", "delete", "my-tpu",
                            "--zone=europe-west4-a", "--quiet"]


def test_gcloud_failure_fails_the_script(stubs):
    proc = run_script(stubs, "delete.sh", GCLOUD_RC="1")
    assert proc.returncode == 1


# ---- provision ---------------------------------------------------------------------------

def _pinned(name: str) -> str:
    lock = (ROOT / "requirements.lock").read_text()
    return re.search(rf"^{name}==(\S+)$", lock, re.M).group(1)


def test_provision_ssh_to_all_workers_with_pinned_versions(stubs):
    url = "https://example.com/o'brien/diffax.git"  # a quote survives the quoting
    proc = run_script(stubs, "provision.sh", REPO_URL=url, **TPU)
    assert proc.returncode == 0, proc.stderr
    argv, cmd = gcloud_ssh_command(stubs)
    assert argv[:5] == ["compute", "tpus", "tpu-vm", "ssh", "my-tpu"]
    assert "--zone=europe-west4-a" in argv and "--worker=all" in argv
    header = dict(shlex.split(line)[0].split("=", 1) for line in cmd.splitlines()[:4])
    assert header == {"REPO_URL": url, "REPO_DIR": "diffax",
                      "JAX_VERSION": _pinned("jax"), "PYTHON_VERSION": "3.11"}
    # PYTHON_VERSION is read from pyproject's requires-python, not typed twice.
    assert 'requires-python = ">=3.11' in (ROOT / "pyproject.toml").read_text()
    assert f'"jax[tpu]==$JAX_VERSION"' in cmd and "-c requirements.lock" in cmd


def test_provision_without_repo_url_fails_clearly(stubs):
    proc = run_script(stubs, "provision.sh", **TPU)
    assert proc.returncode == 2
    assert "provision.sh: REPO_URL is not set" in proc.stderr
    assert "REPO_URL=https://github.com/you/diffax" in proc.stderr
    assert stubs.calls("gcloud") == []


def _worker(stubs, tmp_path, **env):
    """Record provision.sh's ssh command, then run it with /bin/sh in a sandbox whose
    PATH holds only stubs (as a fresh Ubuntu 22.04 worker: python3 is 3.10)."""
    proc = run_script(stubs, "provision.sh", REPO_URL="https://example.com/diffax.git")
    assert proc.returncode == 0, proc.stderr
    _, cmd = gcloud_ssh_command(stubs)
    stubs.log.unlink()
    stubs.add("sudo", "apt-get", "add-apt-repository", "git", "hostname", "python3")
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run([SH, "-c", cmd], capture_output=True, text=True, cwd=home,
                          timeout=30, env=dict(PATH=str(stubs.bin), HOME=str(home),
                                               STUB_LOG=str(stubs.log),
                                               STUB_BIN=str(stubs.bin), **env))
    return proc, [(c["cmd"], c["argv"], c["cwd"]) for c in stubs.calls()], home


def test_provision_worker_installs_python311_before_making_the_venv(stubs, tmp_path):
    proc, calls, home = _worker(stubs, tmp_path)
    assert proc.returncode == 0, proc.stderr
    names = [(cmd, argv) for cmd, argv, _ in calls]
    apt = [argv for cmd, argv in names if cmd == "apt-get"]
    assert apt[-2][-1] == "update" and apt[-1][-3:] == ["install", "python3.11",
                                                        "python3.11-venv"]
    assert all("-y" in a and "DPkg::Lock::Timeout=600" in a for a in apt)
    assert ("add-apt-repository", ["-y", "ppa:deadsnakes/ppa"]) in names
    i_install = names.index(("apt-get", apt[-1]))
    i_venv = names.index(("python3.11", ["-m", "venv", "--clear", ".venv"]))
    assert i_install < i_venv
    # the clone, then the venv inside it, then pip and the device check from the venv
    assert names.index(("git", ["clone", "https://example.com/diffax.git", "diffax"])) < i_venv
    after = [(cmd, argv, cwd) for cmd, argv, cwd in calls[i_venv:]]
    assert all(cwd == str(home / "diffax") for _, _, cwd in after)
    pip = [argv for cmd, argv, _ in after if cmd == "python" and argv[:2] == ["-m", "pip"]]
    assert pip[-2][-3:] == ["requirements.lock", "-e", ".[gcs]"]  # gs:// workdirs need gcsfs
    assert pip[-1][-1] == f"jax[tpu]=={_pinned('jax')}"
    assert after[-1][0] == "python" and "import jax" in after[-1][1][-1]
    assert not any(cmd == "python3" and argv[:2] == ["-m", "venv"] for cmd, argv in names)


def test_provision_worker_uses_an_existing_python311(stubs, tmp_path):
    stubs.add("python3.11", target="py_ok")
    proc, calls, _ = _worker(stubs, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not any(cmd in ("apt-get", "add-apt-repository", "sudo") for cmd, _, _ in calls)
    assert ("python3.11", ["-m", "venv", "--clear", ".venv"]) in [(c, a) for c, a, _ in calls]


def test_provision_worker_fails_clearly_without_python311(stubs, tmp_path):
    proc, calls, home = _worker(stubs, tmp_path, APT_FAIL="1")
    assert proc.returncode == 1
    assert "provision [t1v-n-worker-0]: ERROR: could not install python3.11" in proc.stderr
    assert "this image has Python 3.10.12" in proc.stderr
    assert not any(cmd == "git" for cmd, _, _ in calls)  # stopped before cloning
    assert not (home / "diffax").exists()


# ---- launch --------------------------------------------------------------------------------

def test_launch_runs_distributed_training_with_bucket_workdir(stubs):
    proc = run_script(stubs, "launch.sh", "configs/image/cifar10_edm.py", "cifar_edm",
                      "--config.training.n_steps=400000", "--config.note=two words",
                      BUCKET="gs://my-bucket/runs/", **TPU)
    assert proc.returncode == 0, proc.stderr
    argv, cmd = gcloud_ssh_command(stubs)
    assert argv[:5] == ["compute", "tpus", "tpu-vm", "ssh", "my-tpu"]
    assert "--zone=europe-west4-a" in argv and "--worker=all" in argv
    words = shlex.split(cmd)
    assert words[:3] == ["cd", "diffax", "&&"]
    main = words[words.index("nohup"):]
    assert main[:4] == ["nohup", ".venv/bin/python", "-m", "experiments.main"]
    assert "--config=configs/image/cifar10_edm.py" in main
    assert "--workdir=gs://my-bucket/runs/cifar_edm" in main
    assert "--distributed" in main and "--mode=train" in main
    assert "--config.training.n_steps=400000" in main
    assert "--config.note=two words" in main  # one argument, as given
    assert main[-6:] == [">", "train_cifar_edm.log", "2>&1", "<", "/dev/null", "&"]
    assert "gs://my-bucket/runs/cifar_edm/tensorboard" in proc.stdout


@pytest.mark.parametrize("bucket,message", [
    (None, "launch.sh: BUCKET is not set: set BUCKET to a gs:// workdir root"),
    ("/tmp/runs", "BUCKET must be a gs:// path (every host writes checkpoints there), "
                  "got BUCKET=/tmp/runs"),
])
def test_launch_needs_a_gs_bucket(stubs, bucket, message):
    env = {} if bucket is None else {"BUCKET": bucket}
    proc = run_script(stubs, "launch.sh", "configs/toy/x.py", "run1", **env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert stubs.calls("gcloud") == []


def test_launch_usage(stubs):
    proc = run_script(stubs, "launch.sh", "configs/toy/x.py", BUCKET="gs://b/r")
    assert proc.returncode == 2
    assert "usage:" in proc.stderr and "CONFIG RUN_NAME" in proc.stderr
    assert stubs.calls("gcloud") == []
