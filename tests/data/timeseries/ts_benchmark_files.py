"""Small benchmark files in the exact formats of PhysioNet 2012, Beijing PM2.5, SMD and
PSM, written for the loader tests (no real data)."""

import numpy as np

from diffax.data.timeseries.physionet import ATTRIBUTES

DESCRIPTORS = "00:00,RecordID,{rid}\n00:00,Age,54\n00:00,Gender,0\n00:00,Height,-1\n" \
              "00:00,ICUType,4\n00:00,Weight,-1\n"


def physionet_record(rid: int, hr: float, every: bool = True) -> str:
    """A record; with ``every``, each of the 35 variables is also measured at 02:30
    (value ``k + hr / 100`` for the k-th, 15 for GCS)."""
    text = ("Time,Parameter,Value\n" + DESCRIPTORS.format(rid=rid)
            + f"00:07,GCS,15\n00:37,HR,{hr}\n00:52,HR,{hr + 7}\n01:10,Weight,80\n"
              f"05:00,MechVent,1\n13:45,pH,7.41\n47:59,Temp,37.1\n48:00,HR,90\n")
    if every:
        text += "".join(f"02:30,{a},{15 if a == 'GCS' else k + hr / 100}\n"
                        for k, a in enumerate(ATTRIBUTES))
    return text


def write_physionet(tmp_path, n=10, empty=None):
    folder = tmp_path / "set-a"
    folder.mkdir()
    for i in range(n):
        rid = 132539 + i
        text = ("Time,Parameter,Value\n" + DESCRIPTORS.format(rid=rid)) if rid == empty \
            else physionet_record(rid, 60.0 + i)
        (folder / f"{rid}.txt").write_text(text)
    return str(tmp_path)


def write_pm25(tmp_path, with_missing=True, slash_dates=False):
    rng = np.random.default_rng(0)
    stations = ["001001", "001002", "001003"]
    rows, stamps = [], []
    for month in (5, 6, 7):
        for h in range(30):
            day, hour = 1 + h // 24, h % 24
            stamps.append(f"2014/{month}/{day} {hour}:00" if slash_dates
                          else f"2014-{month:02d}-{day:02d} {hour:02d}:00:00")
            rows.append(np.round(rng.uniform(5, 300, 3), 1))
    ground = np.array(rows)
    ground[rng.random(ground.shape) < 0.1] = np.nan
    hidden = (rng.random(ground.shape) < 0.2) & ~np.isnan(ground)
    missing = np.where(hidden, np.nan, ground)

    def write(name, values):
        lines = ["datetime," + ",".join(stations)]
        lines += [s + "," + ",".join("" if np.isnan(v) else str(v) for v in row)
                  for s, row in zip(stamps, values)]
        (tmp_path / name).write_text("\n".join(lines) + "\n")

    write("pm25_ground.txt", ground)
    if with_missing:
        write("pm25_missing.txt", missing)
    return str(tmp_path), ground, hidden


def write_smd(tmp_path, machine="machine-1-1", rows=40):
    rng = np.random.default_rng(1)
    values = {s: np.round(rng.uniform(0, 1, (rows, 38)), 6) for s in ("train", "test")}
    labels = np.zeros(rows, int)
    labels[20:25] = 1
    for split, v in values.items():
        (tmp_path / split).mkdir(exist_ok=True)
        (tmp_path / split / f"{machine}.txt").write_text(
            "\n".join(",".join(str(c) for c in row) for row in v) + "\n")
    (tmp_path / "test_label").mkdir(exist_ok=True)
    (tmp_path / "test_label" / f"{machine}.txt").write_text("\n".join(map(str, labels)) + "\n")
    return str(tmp_path), values, labels


def write_psm(tmp_path, rows=30):
    rng = np.random.default_rng(2)
    header = "timestamp_(min)," + ",".join(f"feature_{i}" for i in range(25))
    data = {}
    for split, start in (("train", 0), ("test", 1000)):
        v = np.round(rng.normal(0, 1, (rows, 25)), 5)
        v[rng.random(v.shape) < 0.05] = np.nan
        t = start + np.arange(rows) * 1.0
        t[10:] += 3  # a gap of 3 minutes
        data[split] = (t, v)
        lines = [header] + [f"{ti:.1f}," + ",".join("" if np.isnan(c) else str(c) for c in row)
                            for ti, row in zip(t, v)]
        (tmp_path / f"{split}.csv").write_text("\n".join(lines) + "\n")
    labels = (np.arange(rows) % 7 == 0).astype(int)
    (tmp_path / "test_label.csv").write_text(
        "timestamp_(min),label\n" + "".join(f"{t:.1f},{lab}\n"
                                            for t, lab in zip(data["test"][0], labels)))
    return str(tmp_path), data, labels
