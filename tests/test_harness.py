"""benchmarks/compare.py: cells, resume, CSV and Markdown (with the paper's numbers), plots."""

import csv
import json
import os

import pytest

from benchmarks import compare


class FakeRunner:
    """Records the cells it is asked to run; NDCG@20 = 1.1 x the paper's value where there is one."""

    def __init__(self, fail=()):
        self.calls, self.fail, self.data_paths = [], set(fail), []

    def __call__(self, cell, dataset, preset, overrides, data_path):
        self.calls.append((cell["model"], cell["label"], cell["value"], preset, dict(overrides)))
        self.data_paths.append(os.path.abspath(data_path))  # as the run, inside the output folder, reads it
        if cell["label"] in self.fail:
            raise RuntimeError("boom")
        ref = compare.paper_numbers().get((dataset, cell["model"], cell["loss"]), {})
        ndcg = 1.1 * ref.get("ndcg@20", 0.1)
        return {"recall@10": 0.05, "ndcg@10": 0.04, "recall@20": 0.2, "ndcg@20": ndcg,
                "best_valid_ndcg@20": 0.1, "seconds": 1.0}


def rows(out):
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def grid(out, *extra):
    return ["--study=grid", "--dataset=health", "--models=MF", "--losses=PSL,DrRL", "--stock=BPR,SimpleX",
            f"--out={out}", "--no-plots", *extra]


def test_grid_writes_csv_and_markdown_with_the_paper_beside_ours(tmp_path):
    fake = FakeRunner()
    assert compare.main(grid(tmp_path), runner=fake) == 0
    assert [c[:2] for c in fake.calls] == [("MF", "PSL"), ("MF", "DrRL"), ("BPR", "BPR (stock)"), ("SimpleX", "SimpleX (stock)")]
    # The paper preset where it covers the cell (MF x PSL, stock BPR), none where it does not.
    assert [c[3] for c in fake.calls] == ["paper", "-", "paper", "-"]
    table = rows(tmp_path)
    assert len(table) == 4 and len({r["cell_id"] for r in table}) == 4
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    # MF x PSL on Health: paper NDCG@20 .1268, ours (fake) 1.1 x that -> +10.0%
    assert "| MF | PSL |  |  | 0.2000 | 0.1718 | +16.4% | 0.1395 | 0.1268 | +10.0% |" in md
    assert "| MF | DrRL |  |  | 0.2000 | — | — |" in md
    assert "| BPR | stock |  |  | 0.2000 | 0.1627 |" in md  # stock BPR beside the paper's MF x BPR
    assert "`python run_recbole_losses.py --model=MF --loss=PSL --dataset=health --preset=paper`" in md


def test_resume_runs_only_unfinished_cells(tmp_path):
    compare.main(grid(tmp_path), runner=FakeRunner())
    again = FakeRunner()
    assert compare.main(grid(tmp_path), runner=again) == 0
    assert again.calls == []
    kept = [r for r in rows(tmp_path) if r["loss"] != "DrRL"]
    with open(tmp_path / "results.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=compare.FIELDS)
        writer.writeheader()
        writer.writerows(kept)
    third = FakeRunner()
    compare.main(grid(tmp_path), runner=third)
    assert [c[1] for c in third.calls] == ["DrRL"]
    changed = FakeRunner()
    compare.main(grid(tmp_path, "--set", "epochs=1"), runner=changed)  # another configuration: new cells
    assert len(changed.calls) == 4 and all(c[4]["epochs"] == "1" for c in changed.calls)
    assert len(rows(tmp_path)) == 8


def test_set_of_a_loss_key_changes_only_that_loss(tmp_path):
    compare.main(grid(tmp_path), runner=FakeRunner())
    fake = FakeRunner()
    compare.main(grid(tmp_path, "--set", "drrl_c=10"), runner=fake)
    # PSL and the stock models keep their command lines (already done); DrRL is a new cell.
    assert [(c[1], c[4]) for c in fake.calls] == [("DrRL", {"drrl_c": "10"})]


def test_report_only_runs_nothing(tmp_path):
    compare.main(["--study=noise", "--dataset=health", "--losses=SL", "--values=0.2", f"--out={tmp_path}", "--no-plots"],
                 runner=FakeRunner())
    fake = FakeRunner()
    args = ["--study=noise", "--dataset=health", "--losses=SL,CW", f"--out={tmp_path}", "--no-plots", "--report-only"]
    assert compare.main(args, runner=fake) == 0 and fake.calls == []
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| LightGCN | SL | neg_noise_ratio | 0.2 |" in md and "| CW |" not in md


def test_a_failing_cell_is_logged_and_retried(tmp_path):
    assert compare.main(grid(tmp_path), runner=FakeRunner(fail={"DrRL"})) == 1
    assert "DrRL" in (tmp_path / "failures.log").read_text(encoding="utf-8")
    assert len(rows(tmp_path)) == 3
    retry = FakeRunner()
    assert compare.main(grid(tmp_path), runner=retry) == 0
    assert [c[1] for c in retry.calls] == ["DrRL"]


def test_ablation_cells_and_table_iii(tmp_path):
    fake = FakeRunner()
    compare.main(["--study=ablation", "--dataset=health", f"--out={tmp_path}", "--no-plots"], runner=fake)
    assert [(c[0], c[1]) for c in fake.calls] == [("LightGCN", x) for x in ("L_SL", "L_PSL", "L_C", "L_W", "L_CW")]
    extra = {c[1]: {k: v for k, v in c[4].items()} for c in fake.calls}
    assert extra["L_C"] == {"cw_beta": "0.0"} and extra["L_W"] == {"cw_tau_plus": "0.0"} and extra["L_CW"] == {}
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| LightGCN | L_W |  |  |" in md and "| 0.1279 |" in md and "| 0.1454 |" in md


def test_reuse_copies_cells_with_the_same_command_line(tmp_path):
    grid_out, ablation_out = tmp_path / "grid", tmp_path / "ablation"
    compare.main(["--study=grid", "--dataset=health", "--models=LightGCN", "--losses=SL,CW", "--stock=",
                  f"--out={grid_out}", "--no-plots"], runner=FakeRunner())
    fake = FakeRunner()
    compare.main(["--study=ablation", "--dataset=health", f"--out={ablation_out}", "--no-plots",
                  "--reuse", str(grid_out)], runner=fake)
    # L_SL and L_CW are the grid's LightGCN x SL and x CW (same command line): copied, not run.
    assert [c[1] for c in fake.calls] == ["L_PSL", "L_C", "L_W"]
    copied = {r["label"]: r for r in rows(ablation_out)}
    grid_rows = {r["loss"]: r for r in rows(grid_out)}
    assert copied["L_SL"]["ndcg@20"] == grid_rows["SL"]["ndcg@20"] and copied["L_SL"]["study"] == "ablation"
    assert copied["L_CW"]["command"] == grid_rows["CW"]["command"]
    again = FakeRunner()
    compare.main(["--study=ablation", "--dataset=health", f"--out={ablation_out}", "--no-plots",
                  "--reuse", str(grid_out)], runner=again)
    assert again.calls == [] and len(rows(ablation_out)) == 5
    # A sweep's point at the preset's value (tau+ = 0.1) is the grid's CW cell; tau+ = 0 is the ablation's L_W.
    sweep_out, sweep = tmp_path / "tau_plus", FakeRunner()
    compare.main(["--study=tau_plus", "--dataset=health", "--values=0.0,0.05,0.1", f"--out={sweep_out}", "--no-plots",
                  "--reuse", str(grid_out), str(ablation_out)], runner=sweep)
    assert [c[2] for c in sweep.calls] == ["0.05"]
    by_value = {r["value"]: r for r in rows(sweep_out)}
    assert by_value["0.1"]["command"] == grid_rows["CW"]["command"] and by_value["0.1"]["param"] == "cw_tau_plus"
    assert by_value["0.0"]["ndcg@20"] == copied["L_W"]["ndcg@20"]


@pytest.mark.parametrize("study,param,n,preset_value", [("tau_plus", "cw_tau_plus", 8, "0.1"), ("pos_num", "pos_num", 5, "4"),
                                                        ("beta", "cw_beta", 7, "0.8"), ("noise", "neg_noise_ratio", 36, "0.0")])
def test_sweeps(tmp_path, study, param, n, preset_value):
    fake = FakeRunner()
    compare.main([f"--study={study}", "--dataset=health", f"--out={tmp_path}", "--no-plots"], runner=fake)
    assert len(fake.calls) == n
    # The point at the preset's own value carries no override: it is the grid's cell (same command line).
    assert all((param in c[4]) == (c[2] != preset_value) for c in fake.calls)
    table = rows(tmp_path)
    at_preset = [r for r in table if r["value"] == preset_value]
    assert at_preset and all(f"--{param}=" not in r["command"] for r in at_preset)
    if study == "tau_plus":
        assert [r["value"] for r in table][-1] == "pop"
        assert "--cw_tau_plus=pop" in table[-1]["command"]
    if study == "noise":
        assert sorted({r["loss"] for r in table}) == ["BSL", "CCL", "CW", "DrRL", "PSL", "SL"]
        assert {r["value"] for r in table} == {"0.0", "0.1", "0.2", "0.3", "0.4", "0.5"}


def test_plots(tmp_path):
    compare.main(grid(tmp_path), runner=FakeRunner())
    compare.main(["--study=beta", "--dataset=health", f"--out={tmp_path / 'beta'}", "--no-plots"], runner=FakeRunner())
    written = compare.plot(rows(tmp_path), "grid", "health", tmp_path)
    written += compare.plot(rows(tmp_path / "beta"), "beta", "health", tmp_path / "beta")
    assert sorted(p.name for p in written) == ["beta_health.png", "grid_health_MF.png", "grid_health_stock.png"]
    assert all(p.stat().st_size > 1000 for p in written)
    # A ragged sweep (one loss lacks some values) plots every point at its own value's position.
    noise = [{**r, "label": loss, "param": "neg_noise_ratio", "value": v} for r in rows(tmp_path)[:1]
             for loss, values in (("SL", ["0.0", "0.1", "0.2"]), ("DrRL", ["0.2", "0.0"])) for v in values]
    (path,) = compare.plot(noise, "noise", "health", tmp_path)
    assert path.stat().st_size > 1000
    assert sorted(["pop", "0.12", "0.1", "0.02", "0.0"], key=compare._sweep_order) == ["0.0", "0.02", "0.1", "0.12", "pop"]


def test_a_real_cell_on_ml100k(tmp_path):
    out = tmp_path / "real"
    args = ["--study=grid", "--dataset=ml-100k", "--models=MF", "--losses=CW", "--stock=", f"--out={out}",
            "--no-plots", "--set", "epochs=1", "--set", "neg_num=8", "--set", "state=WARNING"]
    assert compare.main(args) == 0
    (row,) = rows(out)
    assert row["preset"] == "-" and json.loads(row["overrides"]) == {"epochs": "1", "neg_num": "8", "state": "WARNING"}
    assert all(0.0 < float(row[m]) < 1.0 for m in compare.METRICS)
    assert row["command"] == "python run_recbole_losses.py --model=MF --loss=CW --dataset=ml-100k --epochs=1 --neg_num=8 --state=WARNING"
    assert (out / "log").is_dir()  # RecBole's files land in the output folder, not the caller's directory


@pytest.mark.parametrize("given,expected", [([], "dataset"), (["--data_path=data"], "data"),
                                            (["--set", "data_path=other"], "other"),
                                            (["--data_path=data", "--set", "data_path=other"], "data")])
def test_relative_paths_are_resolved_from_the_callers_directory(tmp_path, monkeypatch, given, expected):
    """Data prepared into ./dataset as the README says (or a relative --data_path) is read from the
    caller's directory, not from the output folder the runs execute in; --out is relative to it too."""
    monkeypatch.chdir(tmp_path)
    fake = FakeRunner()
    args = ["--study=grid", "--dataset=health", "--models=MF", "--losses=PSL", "--stock=", "--out=results",
            "--no-plots", *given]
    assert compare.main(args, runner=fake) == 0
    assert fake.data_paths == [str(tmp_path / expected)]
    (row,) = compare.read_rows(tmp_path / "results" / "results.csv")
    # The data folder is where the run reads, not a setting: no machine's folder in the record.
    assert "data_path" not in row["command"] and "data_path" not in row["overrides"]


def test_losses_all_is_every_registered_loss_in_the_papers_order():
    from recbole_losses import available_losses

    losses = compare.all_losses()
    assert sorted(losses) == available_losses()
    assert losses[:8] == ["BPR", "LLPAUC", "SL", "AdvInfoNCE", "BSL", "PSL", "SL@K", "CW"]


@pytest.mark.parametrize("text,value", [("0.1", 0.1), ("1e-3", 0.001), ("[10, 20]", [10, 20]), ("None", None),
                                        ("true", True), ("pop", "pop"), ("2*3", "2*3"),
                                        ("__import__('os').getcwd()", "__import__('os').getcwd()")])
def test_values_are_parsed_as_data_never_evaluated(text, value):
    assert compare._parse(text) == value


@pytest.mark.parametrize("bad,message", [("--losses=PSL,Foo", "unknown losses ['Foo']"),
                                         ("--preset=papers", "unknown preset 'papers'; valid: paper"),
                                         ("--set=epochs", "--set takes KEY=VALUE")])
def test_bad_arguments_are_named(tmp_path, capsys, bad, message):
    with pytest.raises(SystemExit):
        compare.main(["--study=grid", f"--out={tmp_path}", bad], runner=FakeRunner())
    assert message in capsys.readouterr().err


def test_a_cell_stopped_in_an_epoch_continues_there_and_ends_like_an_uninterrupted_one(tmp_path, interrupt_at_epoch):
    """Ctrl-C in the third epoch of a real cell (ml-100k), then the same study again: the cell
    resumes from its last epoch and records the metrics of the uninterrupted cell."""
    args = lambda out: ["--study=grid", "--dataset=ml-100k", "--models=MF", "--losses=SL", "--stock=",  # noqa: E731
                        f"--out={out}", "--no-plots", "--set", "epochs=4", "--set", "eval_step=1",
                        "--set", "neg_num=8", "--set", "state=INFO"]
    assert compare.main(args(tmp_path / "full")) == 0
    interrupt_at_epoch(2)
    with pytest.raises(KeyboardInterrupt):
        compare.main(args(tmp_path / "stopped"))
    interrupt_at_epoch(None)
    assert not (tmp_path / "stopped" / "results.csv").exists()
    assert compare.main(args(tmp_path / "stopped")) == 0
    (full,), (resumed,) = rows(tmp_path / "full"), rows(tmp_path / "stopped")
    for metric in (*compare.METRICS, "best_valid_ndcg@20"):
        assert resumed[metric] == full[metric], metric
    assert "resume_checkpoint=last: resuming" in "".join(p.read_text() for p in (tmp_path / "stopped" / "log").rglob("*.log"))


def test_a_dataset_with_other_metrics_is_tabled_with_dashes_and_its_precision(tmp_path):
    """talos-beauty computes Precision@20, Recall@20 and NDCG@20 only: the cells' missing @10
    metrics are dashes (not a crash after the first cell), Precision@20 gets its column."""
    def runner(cell, dataset, preset, overrides, data_path):
        return {"recall@10": "", "ndcg@10": "", "recall@20": 0.14, "ndcg@20": 0.08, "precision@20": 0.0168,
                "best_valid_ndcg@20": 0.07, "seconds": 1.0}

    out = tmp_path / "beauty"
    assert compare.main(["--study=grid", "--dataset=talos-beauty", "--models=MF", "--losses=SL,PSL", "--stock=",
                         f"--out={out}", "--no-plots", "--preset="], runner=runner) == 0
    assert [r["precision@20"] for r in rows(out)] == ["0.0168", "0.0168"]
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| Precision@20 | paper | Δ |" in table and "| 0.0168 | 0.0172 | -2.3% |" in table and "| — | — |" in table
    assert "Paper: Talos paper Table 3.1, Talos paper Table D.2;" in table


def test_a_results_file_of_the_old_columns_gains_the_new_ones(tmp_path):
    path = tmp_path / "results.csv"
    old_fields = [f for f in compare.FIELDS if f not in compare.OPTIONAL_METRICS]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=old_fields)
        writer.writeheader()
        writer.writerow({k: "1" for k in old_fields})
    compare.append_row(path, {**{k: "2" for k in old_fields}, "precision@20": "0.5"})
    got = rows(tmp_path)
    assert list(got[0]) == compare.FIELDS
    assert [r["precision@20"] for r in got] == ["", "0.5"] and [r["cell_id"] for r in got] == ["1", "2"]


def test_a_resumed_cell_counts_the_seconds_of_its_earlier_sittings(monkeypatch):
    """run_cell's ``seconds`` add the resumed run's ``resumed_seconds`` to this sitting's time."""
    import recbole_losses

    result = {"test_result": {"ndcg@20": 0.1}, "best_valid_result": {"ndcg@20": 0.09}, "resumed_seconds": 1234.5}
    monkeypatch.setattr(recbole_losses, "run", lambda *args, **kwargs: result)
    cell = {"model": "MF", "loss": "SL", "label": "SL", "param": "", "value": ""}
    metrics = compare.run_cell(cell, "toy", "-", {}, "unused")
    assert 1234.5 <= metrics["seconds"] < 1234.5 + 60
