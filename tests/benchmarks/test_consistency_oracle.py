"""benchmarks/consistency_oracle.py at a micro scale: the JSON, the plot and the table are
written, every method starts from the same network (one error at step 0), the CD floor
is the discretised Heun teacher's (0.0275 in tests/objectives/test_consistency_distillation.py),
and 30 CD steps already reduce the error (by 9 %)."""

import json
import os

import numpy as np
import pytest

from benchmarks import consistency_oracle


def test_micro_run_writes_its_records(tmp_path, capsys):
    out = str(tmp_path / "co")
    result = consistency_oracle.main(["--out", out, "--steps", "30", "--seeds", "0",
                                      "--methods", "cd,ict"])
    saved = json.load(open(os.path.join(out, "consistency_oracle.json")))
    assert saved["runs"] == result["runs"] and len(saved["runs"]) == 2
    assert os.path.getsize(os.path.join(out, "consistency_oracle.png")) > 0
    assert 0.02 < saved["cd_floor"] < 0.03
    starts = [r["errors"]["0"] for r in saved["runs"]]
    assert starts[0] == pytest.approx(starts[1], rel=1e-6) and starts[0] > 0.5
    cd = saved["runs"][0]["errors"]
    marks = [int(k) for k in cd]
    assert marks == sorted(set(marks)) and marks[0] == 0 and marks[-1] == 30
    assert cd["30"] < 0.95 * cd["0"]  # measured 0.885 against 0.969 after 30 steps
    assert all(np.isfinite(v) for r in saved["runs"] for v in r["errors"].values())
    assert "| cd | 1 |" in capsys.readouterr().out


def test_unknown_method_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"'icm'.*\['cd', 'ict', 'ct'\]"):
        consistency_oracle.main(["--out", str(tmp_path), "--methods", "cd,icm"])
