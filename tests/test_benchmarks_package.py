"""benchmarks/ as a package on the library: the papers' numbers as a data file, the one command
renderer (recbole_losses.commands), the one table writer (recbole_losses.tables) and the size of a
search space (recbole_losses.tuning.space.space_size)."""

import csv
import math
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import compare, paper, tune_combine, tune_study
from recbole_losses.commands import TRAIN, TUNE, command_line, option
from recbole_losses.tables import markdown_table, write_table
from recbole_losses.tuning.space import space_size
from recbole_losses.tuning.space import default_params_file, hyper_dir, parse_params, read_params_file

REPO = Path(__file__).resolve().parent.parent

# The published numbers as benchmarks/compare.py held them in code before they moved to
# benchmarks/paper_results.csv (CW paper Table II: Recall@20 NDCG@20 on Health, Electronic,
# Gowalla, Amazon-Book; Table III: LightGCN NDCG@20 of SL, PSL, L_C, L_W, CW).
TABLE_II = """
MF BPR .1627 .1234 .0816 .0527 .1355 .1111 .0665 .0453
MF LLPAUC .1644 .1209 .0821 .0499 .1610 .1189 .1150 .0811
MF SL .1719 .1261 .0821 .0529 .2064 .1624 .1559 .1210
MF AdvInfoNCE .1659 .1237 .0829 .0527 .2067 .1627 .1557 .1172
MF BSL .1719 .1261 .0834 .0530 .2071 .1630 .1563 .1212
MF PSL .1718 .1268 .0838 .0541 .2089 .1647 .1569 .1227
MF SL@K .1823 .1390 .0901 .0590 .2121 .1709 .1612 .1269
MF CW .1908 .1481 .0938 .0618 .2142 .1747 .1634 .1298
LightGCN BPR .1618 .1203 .0813 .0524 .1745 .1402 .0984 .0678
LightGCN LLPAUC .1685 .1207 .0831 .0507 .1616 .1192 .1147 .0810
LightGCN SL .1691 .1235 .0823 .0526 .2068 .1628 .1567 .1220
LightGCN AdvInfoNCE .1706 .1264 .0823 .0528 .2066 .1625 .1568 .1177
LightGCN BSL .1691 .1236 .0823 .0526 .2069 .1628 .1568 .1220
LightGCN PSL .1701 .1270 .0830 .0536 .2086 .1648 .1575 .1233
LightGCN SL@K .1783 .1371 .0903 .0591 .2128 .1729 .1625 .1280
LightGCN CW .1827 .1454 .0971 .0633 .2154 .1783 .1662 .1306
XSimGCL BPR .1496 .1108 .0777 .0508 .1966 .1570 .1269 .0905
XSimGCL LLPAUC .1519 .1083 .0781 .0481 .1632 .1200 .1363 .1008
XSimGCL SL .1534 .1113 .0772 .0490 .2005 .1570 .1549 .1207
XSimGCL AdvInfoNCE .1499 .1072 .0776 .0489 .2010 .1564 .1568 .1179
XSimGCL BSL .1649 .1201 .0800 .0507 .2037 .1597 .1550 .1207
XSimGCL PSL .1579 .1143 .0801 .0507 .2037 .1593 .1571 .1228
XSimGCL SL@K .1753 .1332 .0869 .0571 .2095 .1717 .1624 .1277
XSimGCL CW .1796 .1396 .0903 .0600 .2120 .1792 .1655 .1306
"""
TABLE_III = {"health": [.1235, .1270, .1243, .1279, .1454], "electronic": [.0526, .0536, .0529, .0553, .0633],
             "gowalla": [.1628, .1648, .1632, .1657, .1783], "amazon-book": [.1220, .1233, .1225, .1261, .1306]}


def test_the_data_file_holds_every_number_the_code_held():
    expected = {}
    for line in TABLE_II.strip().splitlines():
        model, loss, *values = line.split()
        for k, dataset in enumerate(["health", "electronic", "gowalla", "amazon-book"]):
            expected[(dataset, model, loss)] = {"recall@20": float(values[2 * k]), "ndcg@20": float(values[2 * k + 1])}
    for dataset, values in TABLE_III.items():
        for label, value in zip(["L_SL", "L_PSL", "L_C", "L_W", "L_CW"], values):
            expected[(dataset, "LightGCN", label)] = {"ndcg@20": value}
    cw_paper = {key: value for key, value in paper.paper_numbers().items()
                if key[0] != "talos-beauty" and key[2] not in ("GuidedRec", "SONG@K")}
    assert cw_paper == expected
    assert compare.paper_numbers is paper.paper_numbers and tune_combine.paper_numbers is paper.paper_numbers
    assert [label for label, _, _ in compare.ABLATION] == ["L_SL", "L_PSL", "L_C", "L_W", "L_CW"]
    assert paper.paper_loss_order() == ["BPR", "LLPAUC", "SL", "AdvInfoNCE", "BSL", "PSL", "SL@K", "CW"]
    assert {row["source"] for row in paper.paper_rows()} == {"CW paper Table II", "CW paper Table III",
                                                              "SL@K paper Table 2", "Talos paper Table 3.1",
                                                              "Talos paper Table D.2"}


# SL@K paper Table 2, the rows the CW paper does not carry: Health, Electronic, Gowalla (R@20, N@20).
SLATK_TABLE_2 = """
MF GuidedRec .1568 .1093 .0644 .0385 .1135 .0863
MF SONG@K .0874 .0650 .0708 .0444 .1237 .0970
LightGCN GuidedRec .1550 .1073 .0657 .0393 .0921 .0686
LightGCN SONG@K .1353 .0960 .0816 .0511 .1261 .0968
XSimGCL GuidedRec .1539 .1088 .0760 .0473 .1685 .1277
XSimGCL SONG@K .1378 .0948 .0525 .0320 .1367 .0985
"""


def test_the_slatk_rows_are_its_table_2():
    expected = {}
    for line in SLATK_TABLE_2.strip().splitlines():
        model, loss, *values = line.split()
        for k, dataset in enumerate(["health", "electronic", "gowalla"]):
            expected[(dataset, model, loss)] = {"recall@20": float(values[2 * k]), "ndcg@20": float(values[2 * k + 1])}
    rows = paper.paper_rows()
    assert {(r["dataset"], r["model"], r["loss"]) for r in rows if r["source"] == "SL@K paper Table 2"} == set(expected)
    assert {key: value for key, value in paper.paper_numbers().items() if key in expected} == expected


def test_the_talos_rows_are_its_tables():
    # Talos paper Table 3.1, Beauty columns (P@20, R@20); Table D.2, Beauty NDCG@20 (MF only).
    numbers = paper.paper_numbers()
    assert numbers[("talos-beauty", "MF", "Talos")] == {"precision@20": 0.0179, "recall@20": 0.1499, "ndcg@20": 0.0851}
    assert numbers[("talos-beauty", "LightGCN", "LLPAUC")] == {"precision@20": 0.0170, "recall@20": 0.1423}
    assert numbers[("talos-beauty", "MF", "BPR")] == {"precision@20": 0.0146, "recall@20": 0.1267, "ndcg@20": 0.0698}
    assert sum(key[0] == "talos-beauty" for key in numbers) == 14


GOOD = "CW paper Table II,health,MF,CW,ndcg@20,0.1481"


@pytest.mark.parametrize("lines,message", [
    (["CW paper Table II,health,MF,CW,ndcg@20,14.81"],  # a percentage, not a fraction
     "line 3: expected source,dataset,model,loss,metric,value with a value in (0, 1)"),
    (["CW paper Table II,health,MF,,ndcg@20,0.1481"], "line 3: expected"),
    ([GOOD, "CW paper Table II,health,MF,CW,ndcg@20,0.2"], "ndcg@20 of ('health', 'MF', 'CW') is given twice"),
])
def test_a_wrong_line_of_the_data_file_is_named(tmp_path, lines, message):
    path = tmp_path / "paper.csv"
    path.write_text("\n".join(["# comment", ",".join(paper.COLUMNS), *lines]) + "\n")
    with pytest.raises(ValueError) as err:
        paper.paper_numbers(path)
    assert message in str(err.value)


@pytest.mark.parametrize("how", [["benchmarks/compare.py"], ["-m", "benchmarks.compare"],
                                 ["benchmarks/tune_combine.py"], ["-m", "benchmarks.tune_combine"]])
def test_scripts_run_as_files_and_as_modules(how):
    done = subprocess.run([sys.executable, *how, "--help"], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout


# --------------------------------------------------------------------------------------------
# The command renderer
# --------------------------------------------------------------------------------------------

def test_a_run_renders_as_the_command_that_reads_it_back():
    text = command_line(TRAIN, "MF", "SL@K", "health", {"preset": "paper", "slatk_k": 5, "stopping_step": None,
                                                        "mlp_hidden_size": [64, 64], "cw_tau_plus": "pop"})
    assert text == ("recbole-losses --model=MF --loss=SL@K --dataset=health --preset=paper --slatk_k=5 "
                    "--stopping_step=None '--mlp_hidden_size=[64, 64]' --cw_tau_plus=pop")
    from recbole_losses.cli import parse_args

    program, *argv = shlex.split(text)
    args, overrides = parse_args(argv)
    assert (program, args.model, args.loss, args.dataset) == (TRAIN, "MF", "SL@K", "health")
    assert overrides == ["--preset=paper", "--slatk_k=5", "--stopping_step=None", "--mlp_hidden_size=[64, 64]",
                         "--cw_tau_plus=pop"]


def test_a_stock_run_ready_arguments_and_quoting():
    assert command_line("python run_recbole_losses.py", "BPR", None, "ml-100k") == \
        "python run_recbole_losses.py --model=BPR --dataset=ml-100k"
    assert command_line(TUNE, options=["--n_trials=3", "--config_files=a.yaml b.yaml", "--study_name=it's"]) == \
        "recbole-losses-tune --n_trials=3 '--config_files=a.yaml b.yaml' '--study_name=it'\"'\"'s'"
    assert option("learning_rate", 1e-05) == "--learning_rate=1e-05" and option("show_progress", False) == \
        "--show_progress=False"


def test_benchmarks_record_their_commands_through_the_renderer(tmp_path):
    cell = {"model": "LightGCN", "loss": "CW", "label": "CW"}
    assert compare.command_line(cell, "health", "paper", {"cw_tau_plus": "pop", "cw_beta": "0.0"}) == (
        "python run_recbole_losses.py --model=LightGCN --loss=CW --dataset=health --preset=paper "
        "--cw_beta=0.0 --cw_tau_plus=pop")
    args = tune_study.parse_args(["--dataset=health", "--n_trials=2", f"--out={tmp_path / 'my out'}"])
    assert tune_study.format_command(args, ["--loss=CW", "--data_path=/home/me/data", "--embedding_size=[64, 32]"]) == (
        f"cd '{tmp_path / 'my out'}' && python -m recbole_losses.tune --loss=CW --data_path=DATA "
        "'--embedding_size=[64, 32]'")


# --------------------------------------------------------------------------------------------
# The table writer
# --------------------------------------------------------------------------------------------

def test_a_table_is_every_column_in_csv_and_the_shown_ones_in_markdown(tmp_path):
    rows = [{"trial": 0, "value": 0.123456789, "note": "a | b\nc"}, {"trial": 1, "value": None, "extra": "x"}]
    write_table(rows, tmp_path / "t.csv", tmp_path / "t.md", "Title", shown=["trial", "value", "note"],
                header=["trial", "valid", "note"], intro=["Before."], notes=["After."])
    with open(tmp_path / "t.csv", newline="") as fp:
        read = list(csv.DictReader(fp))
    assert list(read[0]) == ["trial", "value", "note", "extra"] and read[1]["extra"] == "x" and read[1]["note"] == ""
    assert (tmp_path / "t.md").read_text() == (
        "# Title\n\nBefore.\n\n| trial | valid | note |\n| --- | --- | --- |\n| 0 | 0.123457 | a \\| b c |\n"
        "| 1 |  |  |\n\nAfter.\n")
    with pytest.raises(ValueError, match="2 header names for 3 columns"):
        markdown_table(rows, ["trial", "value", "note"], header=["a", "b"])


def test_no_benchmark_hides_a_missing_dependency():
    """matplotlib is a dependency: no script carries a branch for its absence."""
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        assert "except ImportError" not in path.read_text(encoding="utf-8"), path.name


# --------------------------------------------------------------------------------------------
# The size of a search space
# --------------------------------------------------------------------------------------------

def test_space_size_is_the_number_of_grid_points():
    params = parse_params("a choice [1,2,3]\nb quniform 32,128,32\nc quniform 0.5,3,0.25\nd choice [[1],[2]]\n")
    assert space_size(params) == 3 * 4 * 11 * 2
    assert space_size(params) == math.prod(len(p.grid()) for p in params.values())
    assert space_size(parse_params("a choice [1,2]\nlr loguniform -8,0\n")) is None
    assert space_size(parse_params("a uniform 0,1\n")) is None


def test_space_size_of_every_shipped_space_and_as_benchmarks_report_it():
    sizes = {path.stem: space_size(read_params_file(path)) for path in hyper_dir().glob("*.hyper")}
    assert sizes["CW"] == 2520 and sizes["PSL"] == 60
    assert all(size is None or size >= 1 for size in sizes.values())
    assert tune_study.searched_space(None, "PSL", ".") == (list(read_params_file(default_params_file("PSL"))), "60")


def test_tune_study_reports_keep_the_variants_another_run_tabled_in_the_same_folder(tmp_path):
    """Two tune_study runs sharing one --out with different variants: the second report keeps the
    first run's rows (read back from results.csv) and rewrites its own; numbers read back are
    shown as numbers."""
    args = tune_study.parse_args(["--dataset=health", "--model=MF", "--n_trials=2", f"--out={tmp_path}"])

    def row(variant, ndcg):
        return {"variant": variant, "model": "MF", "dataset": "health", "loss": variant, "fixed": "",
                "pruner": "median", "complete": 2, "pruned": 0, "failed": 0, "best valid ndcg@20": ndcg,
                "test recall@20": 0.17, "test ndcg@20": 0.13, "best trial": 0, "settings": "{}",
                "selected settings": "{}", "searched": "", "grid size": 4, "trial wall s (sum)": 700.94,
                "command": f"cd x && tune {variant}"}

    tune_study.write_report(args, [row("PSL", 0.0859), row("CW", 0.0819)], {})
    tune_study.write_report(args, [row("CW", 0.0835), row("Talos", 0.089)], {})
    with open(tmp_path / "results.csv", newline="") as fp:
        table = list(csv.DictReader(fp))
    assert [(r["variant"], r["best valid ndcg@20"]) for r in table] == [
        ("PSL", "0.0859"), ("CW", "0.0835"), ("Talos", "0.089")]
    text = (tmp_path / "results.md").read_text()
    assert "| PSL | median | 2 | 0 | 0 | 0.0859 |" in text and "| 700.9 |" in text
    assert "search spaces differ" not in text


def test_tune_study_selected_settings_are_the_searched_values_and_the_fixed_overrides():
    args = tune_study.parse_args(["--dataset=health", "--n_trials=2", "--set", "learning_rate=0.1"])
    summary = {"best_params": {"cw_tau": 0.1}, "best_settings": {
        "model": "MF", "epochs": 200, "learning_rate": 0.1, "cw_weighting": "hcl", "cw_tau": 0.1}}
    assert tune_study.selected_settings(args, {"loss": "CW", "cw_weighting": "hcl"}, summary) == {
        "learning_rate": 0.1, "cw_weighting": "hcl", "cw_tau": 0.1}
