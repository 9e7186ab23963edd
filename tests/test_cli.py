"""The command lines as a user types them (subprocesses): runs, sweeps, interruption, merge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from .conftest import ROOT

EXPERIMENTS = ["pairwise", "all_groups", "saliency_stats", "argmax_bias", "male_gaze",
               "counterfactual"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AUDIT_RESULTS_DIR=str(tmp_path / "results"), AUDIT_CACHE_DIR=str(tmp_path / "cache"),
               XDG_CACHE_HOME=str(tmp_path / "xdg"), MPLBACKEND="Agg", **extra)
    return env


def _run(args: list[str], tmp_path: Path, *, timeout: float = 300, **env: str):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=timeout)


def _synthetic(tmp_path: Path) -> list[str]:
    return [f"data.synthetic.cache_dir={tmp_path / 'synthetic'}",
            f"paths.work_dir={tmp_path / 'work'}"]


def _run_dirs(tmp_path: Path, name: str) -> list[Path]:
    return sorted(p.parent for p in (tmp_path / "results" / name).glob("*/manifest.json"))


@pytest.mark.slow
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_runs_from_the_command_line(experiment, tmp_path):
    proc = _run(["audit.run", f"experiment={experiment}", "debug=smoke", "model=luminance",
                 "gaze.min_regions=0", *_synthetic(tmp_path)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = _run_dirs(tmp_path, experiment)
    for rel in ("manifest.json", "report.md", "report.html", "config.yaml", ".hydra/config.yaml"):
        assert (run_dir / rel).is_file(), rel
    assert list((run_dir / "tables").glob("*.csv")) and list((run_dir / "figures").glob("*.png"))


@pytest.mark.slow
def test_main_job_finishes_without_weights_and_says_so(tmp_path):
    env = {"AUDIT_FASTGAZE_WEIGHTS": ""}
    proc = _run(["audit.run", "experiment=pairwise", "debug=smoke",
                 "model.url=http://127.0.0.1:9/fastgaze.vxm", *_synthetic(tmp_path)], tmp_path,
                **env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Results are NOT those of Twitter's cropper" in proc.stdout + proc.stderr
    (run_dir,) = _run_dirs(tmp_path, "pairwise")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"]["name"] == "spectral_residual"
    assert manifest["model"]["fallback_reason"]
    assert "FastGaze weights unavailable" in (run_dir / "report.html").read_text()


@pytest.mark.slow
def test_paper_config_without_weights_stops_with_one_clear_line(tmp_path):
    proc = _run(["audit.run", "experiment=paper_pairwise",
                 "model.url=http://127.0.0.1:9/fastgaze.vxm"], tmp_path,
                AUDIT_FASTGAZE_WEIGHTS="")
    assert proc.returncode == 2
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "model.weights=PATH" in errors[0]


@pytest.mark.slow
def test_bad_value_fails_at_start_with_one_line_naming_the_key(tmp_path):
    proc = _run(["audit.run", "experiment=pairwise", "compare.n_trials=-3"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "python -m audit.run: error: compare.n_trials must be >= 1, got -3\n"


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_multirun_sweep_and_summary(launcher, tmp_path):
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else [
        "hydra.launcher.timeout_min=10"]
    proc = _run(["audit.run", "-m", "experiment=pairwise", "debug=smoke", "model=luminance",
                 f"hydra/launcher={launcher}", *extra, "seed=0,1", *_synthetic(tmp_path)],
                tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (sweep,) = (tmp_path / "results" / "pairwise").glob("multirun_*")
    runs = sorted(p.parent for p in sweep.glob("*/manifest.json"))
    assert len(runs) == 2
    seeds = sorted(json.loads((r / "manifest.json").read_text())["seed"] for r in runs)
    assert seeds == [0, 1]
    summary = _run(["audit.summarize", str(sweep)], tmp_path)
    assert summary.returncode == 0, summary.stderr[-2000:]
    table = pd.read_csv(sweep / "summary.csv")
    assert len(table) == 2 * 3  # two runs x three tone-band pairs


@pytest.mark.slow
def test_killed_run_resumes_and_matches_an_uninterrupted_run(tmp_path):
    args = ["audit.run", "experiment=pairwise", "model=spectral_residual", "compare.n_trials=40",
            "compare.baseline_trials=10", "compare.chunk_size=16", *_synthetic(tmp_path)]
    env = _env(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = tmp_path / "work"
    deadline = time.time() + 240
    while time.time() < deadline and len(list(chunks.glob("*/pairs-*.parquet"))) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done_before = len(list(chunks.glob("*/pairs-*.parquet")))
    assert 2 <= done_before < 30  # 30 chunks in all: it really stopped part-way
    resumed = _run(args, tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming pairs" in resumed.stdout + resumed.stderr
    fresh = _run([*args[:-1], f"paths.work_dir={tmp_path / 'work-fresh'}"], tmp_path)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    first, second = _run_dirs(tmp_path, "pairwise")
    assert (first / "records.parquet").read_bytes() == (second / "records.parquet").read_bytes()
    for table in ("win_rates", "position", "outcomes"):
        assert (first / "tables" / f"{table}.parquet").read_bytes() == (
            second / "tables" / f"{table}.parquet").read_bytes()


@pytest.mark.slow
def test_merge_command_reports_bad_input_in_one_line(tmp_path):
    proc = _run(["audit.merge", str(tmp_path / "out"), str(tmp_path / "nope")], tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("python -m audit.merge: error:")
    assert "not a run folder" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("override", "expected"),
    [("compare.n_trails=3", "compare.n_trails: Key 'n_trails' not in 'CompareConfig' "
                            "(did you mean 'n_trials'?)"),
     ("compare.n_trials=abc", "compare.n_trials: Value 'abc' of type 'str' could not be "
                              "converted to Integer"),
     ("model=fastgze", "model=fastgze: no such option in conf/model/ (choose one of "
                       "center_bias, external, fastgaze, luminance, spectral_residual) "
                       "(did you mean 'fastgaze'?)")],
)
def test_config_mistakes_stop_with_one_line_naming_the_key(override, expected, tmp_path):
    proc = _run(["audit.run", "experiment=pairwise", override], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == f"python -m audit.run: error: {expected}"


# ------------------------------------------------------------------ run folders (issue 11)
def _popen(args: list[str], tmp_path: Path, *, umask: int | None = None,
           capture: bool = True):
    def child() -> None:
        if umask is not None:
            os.umask(umask)
    pipe = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=_env(tmp_path),
                            stdout=pipe, stderr=pipe, text=True, preexec_fn=child)


def _smoke(tmp_path: Path, *extra: str) -> list[str]:
    return ["audit.run", "experiment=pairwise", "debug=smoke", "model=luminance",
            *_synthetic(tmp_path), *extra]


@pytest.mark.slow
def test_two_runs_started_together_get_their_own_folders_and_honour_the_umask(tmp_path):
    procs = {seed: _popen(_smoke(tmp_path, f"seed={seed}"), tmp_path, umask=mask)
             for seed, mask in ((1, 0o027), (2, 0o002))}
    for proc in procs.values():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    runs = _run_dirs(tmp_path, "pairwise")
    assert len(runs) == 2  # started in the same second, yet two folders
    by_seed = {json.loads((r / "manifest.json").read_text())["seed"]: r for r in runs}
    assert sorted(by_seed) == [1, 2]
    for seed, mode in ((1, 0o640), (2, 0o664)):
        run = by_seed[seed]
        assert not (run / "RUNNING").exists()
        for rel in ("records.parquet", "manifest.json", "tables/win_rates.csv", "report.html"):
            assert (run / rel).stat().st_mode & 0o777 == mode, (seed, rel)
    one, two = (pd.read_parquet(by_seed[s] / "records.parquet") for s in (1, 2))
    assert (one["trial_seed"] != two["trial_seed"]).any()  # each folder holds its own run


@pytest.mark.slow
def test_a_run_refuses_a_folder_holding_another_run(tmp_path):
    folder = tmp_path / "one"  # a finished run's files (only what the check looks at)
    (folder / "tables").mkdir(parents=True)
    (folder / "records.parquet").write_bytes(b"records of another run")
    (folder / "manifest.json").write_text('{"seed": 0}')
    again = _run(_smoke(tmp_path, "seed=5", f"hydra.run.dir={folder}"), tmp_path)
    assert again.returncode == 2
    errors = [line for line in (again.stdout + again.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and errors[0].endswith(
        f"RunFolderError: {folder} already holds another run's files (manifest.json, "
        "records.parquet, tables); a run never writes into it: leave hydra.run.dir unset or "
        "choose an empty folder")
    assert (folder / "records.parquet").read_bytes() == b"records of another run"
    assert json.loads((folder / "manifest.json").read_text()) == {"seed": 0}
    assert not (folder / "RUNNING").exists()


@pytest.mark.slow
def test_run_killed_while_writing_its_tables_is_refused_by_summarize(tmp_path):
    proc = _popen(["audit.run", "-m", "experiment=pairwise", "debug=smoke", "model=luminance",
                   "seed=3", *_synthetic(tmp_path)], tmp_path, capture=False)
    deadline = time.time() + 240
    tables = []
    while time.time() < deadline and not tables:
        tables = list((tmp_path / "results" / "pairwise").glob("multirun_*/*/tables"))
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    (run,) = (p.parent for p in tables)
    assert (run / "RUNNING").is_file() and not (run / "manifest.json").exists()
    summary = _run(["audit.summarize", str(run.parent)], tmp_path)
    assert summary.returncode == 2
    assert summary.stderr.startswith(f"error: {run} is an incomplete run (pid {proc.pid} on ")
    assert not (run.parent / "summary.csv").exists()


@pytest.mark.slow
def test_paths_root_holds_the_run_folder_and_checkpoints(tmp_path):
    root = tmp_path / "root"
    env = {k: v for k, v in _env(tmp_path).items() if k != "AUDIT_RESULTS_DIR"}
    env["PYTHONPATH"] = str(ROOT)  # run from another folder, with this checkout's package
    proc = subprocess.run([sys.executable, "-m", "audit.run", "experiment=pairwise",
                           "debug=smoke", "model=luminance", f"paths.root={root}",
                           f"data.synthetic.cache_dir={tmp_path / 'synthetic'}"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run,) = (p.parent for p in (root / "results" / "pairwise").glob("*/manifest.json"))
    assert list((root / "results" / ".work").glob("pairwise-*/pairs-*.parquet"))
    assert not (tmp_path / "results").exists() and not (ROOT / "results" / "pairwise" / run.name
                                                        ).exists()


@pytest.mark.slow
@pytest.mark.parametrize(("args", "expected"), [
    (["model=external"], "python -m audit.run: error: model.command has no value (??? in "
                         "conf/); model=external runs a program: give its argument list"),
    (["-m", "seed=0,1", "compare.n_trials=4,0"],
     "python -m audit.run: error: job 1 (experiment=pairwise debug=smoke seed=0 "
     "compare.n_trials=0): compare.n_trials must be >= 1, got 0\n"
     "python -m audit.run: error: job 3 (experiment=pairwise debug=smoke seed=1 "
     "compare.n_trials=0): compare.n_trials must be >= 1, got 0"),
    (["paths.results_dir=RESULTS/x"], "python -m audit.run: error: cannot create the run folder "
                                      "under RESULTS/x: RESULTS is not a directory"),
    (["compare.n_trials=["], "python -m audit.run: error: cannot parse the overrides "
                             "experiment=pairwise debug=smoke compare.n_trials=[: no viable "
                             "alternative at input '['"),
])
def test_bad_command_lines_stop_before_any_job_with_one_line_each(args, expected, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    args = [a.replace("RESULTS", str(tmp_path / "afile")) for a in args]
    expected = expected.replace("RESULTS", str(tmp_path / "afile"))
    proc = _run(["audit.run", "experiment=pairwise", "debug=smoke", *args], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.startswith(expected)
    assert proc.stderr.count("\n") == expected.count("\n") + 1
    assert not (tmp_path / "results").exists()  # no job started, no folder made


@pytest.mark.slow
def test_output_that_cannot_be_written_is_one_line(tmp_path):
    import resource

    assert _run(_smoke(tmp_path), tmp_path).returncode == 0

    def small_files() -> None:  # every file over 12 KB fails to write (EFBIG), like a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))

    proc = subprocess.run([sys.executable, "-m", *_smoke(tmp_path, "seed=4")], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=300,
                          preexec_fn=small_files)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
    assert len(errors) == 1 and "OutputError: cannot write " in errors[0]
    assert "(disk full, quota or file-size limit)" in errors[0]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("full", [False, True])
def test_runtime_error_is_one_line_unless_hydra_full_error(full, tmp_path):
    env = {"HYDRA_FULL_ERROR": "1"} if full else {}
    proc = _run(["audit.run", "experiment=pairwise", "debug=smoke", "model=luminance",
                 "data=folder", f"data.folder={tmp_path / 'nope'}", f"data.csv={tmp_path}/x.csv",
                 "data.group_by=[race]", "compare.group_by=[race]"], tmp_path, **env)
    text = proc.stdout + proc.stderr
    assert proc.returncode == (1 if full else 2)
    assert f"data.folder={tmp_path / 'nope'} is not a directory; check the path" in text
    assert ("Traceback" in text) == full
    if not full:
        assert [line for line in text.splitlines() if "ERROR" in line] == [
            line for line in text.splitlines() if "FileNotFoundError: data.folder=" in line]
