from __future__ import annotations

import pandas as pd
import pytest

from audit.summarize import main, summarize_runs


def _fake_run(root, sub, overrides, rate):
    run = root / sub
    (run / ".hydra").mkdir(parents=True)
    (run / "tables").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in overrides), encoding="utf-8")
    pd.DataFrame({"group_a": ["x"], "group_b": ["y"], "n": [100], "wins_a": [int(rate * 100)],
                  "rate": [rate], "ci_low": [rate - 0.1], "ci_high": [rate + 0.1]}).to_csv(
        run / "tables" / "win_rates.csv", index=False)
    (run / "manifest.json").write_text("{}\n", encoding="utf-8")


def test_summarize_combines_two_runs(tmp_path):
    _fake_run(tmp_path, "0", ["seed=0", "compare.n_trials=8"], 0.6)
    _fake_run(tmp_path, "1", ["seed=1"], 0.4)
    (tmp_path / "stray").mkdir()
    assert main([str(tmp_path), "--dpi", "40"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv", dtype={"run_dir": str})
    assert summary["overrides"].tolist() == ["seed=0,compare.n_trials=8", "seed=1"]
    assert summary["rate"].tolist() == [0.6, 0.4]
    assert summary["run_dir"].tolist() == ["0", "1"]
    assert pd.read_parquet(tmp_path / "summary.parquet").shape == summary.shape
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"


def test_summarize_errors_clearly_when_nothing_found(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no run folders under"):
        summarize_runs(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path)])
    assert exc.value.code == 2
    assert "overrides.yaml" in capsys.readouterr().err


def test_summarize_combines_every_designs_tables(tmp_path):
    _fake_run(tmp_path, "0", ["seed=0"], 0.6)
    kway = tmp_path / "1"
    (kway / ".hydra").mkdir(parents=True)
    (kway / "tables").mkdir()
    (kway / ".hydra" / "overrides.yaml").write_text("- experiment=all_groups\n")
    pd.DataFrame({"group": ["x", "y", "z"], "wins": [5, 3, 2], "share": [0.5, 0.3, 0.2]}).to_csv(
        kway / "tables" / "kway_shares.csv", index=False)
    pd.DataFrame({"id": ["a"]}).to_csv(kway / "tables" / "people.csv", index=False)
    (kway / "manifest.json").write_text("{}\n")
    assert main([str(tmp_path), "--dpi", "40"]) == 0
    shares = pd.read_csv(tmp_path / "summary_kway_shares.csv", dtype={"run_dir": str})
    assert shares["overrides"].tolist() == ["experiment=all_groups"] * 3
    assert shares["wins"].sum() == 10 and shares["run_dir"].tolist() == ["1"] * 3
    rates = pd.read_parquet(tmp_path / "summary_win_rates.parquet")
    assert rates["rate"].tolist() == [0.6]
    assert pd.read_csv(tmp_path / "summary.csv")["rate"].tolist() == [0.6]
    assert not (tmp_path / "summary_people.csv").exists()


@pytest.mark.parametrize("state", ["running", "no_manifest"])
def test_summarize_refuses_an_incomplete_run_by_name(tmp_path, capsys, state):
    _fake_run(tmp_path, "0", ["seed=0"], 0.6)
    _fake_run(tmp_path, "1", ["seed=1"], 0.4)
    if state == "running":
        (tmp_path / "1" / "RUNNING").write_text('{"pid": 4242, "host": "h", "started": "t"}')
        expected = f"{tmp_path / '1'} is an incomplete run (pid 4242 on h, started t)"
    else:
        (tmp_path / "1" / "manifest.json").unlink()
        expected = f"{tmp_path / '1'} is an incomplete run: no manifest.json"
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {expected}") and err.count("\n") == 1
    assert not (tmp_path / "summary.csv").exists()
