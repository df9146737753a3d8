"""Presets: `preset: paper` layers the published tuned settings per dataset x model x loss, `preset: tuned`
the settings our tuning study selected on validation."""

import configparser
import fnmatch
import re
from pathlib import Path

import pytest

from recbole_losses.config import Config, preset_combinations, properties_dir

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((properties_dir() / "preset").rglob("*.yaml"))


def config(model, dataset, loss=None, preset="paper", **kwargs):
    cmd = kwargs.pop("cmd_args", None)
    return Config(model, dataset, config_dict={"preset": preset, **({"loss": loss} if loss else {}), **kwargs},
                  cmd_args=cmd)


def test_mf_psl_health_gets_the_published_values():
    c = config("MF", "health", "PSL")
    # SL@K paper Table 11, Health, PSL: lr 0.1, wd 0, tau 0.1
    assert (c["learning_rate"], c["weight_decay"], c["psl_tau"]) == (0.1, 0.0, 0.1)
    plain = Config("MF", "health", config_dict={"loss": "PSL"})
    assert plain["learning_rate"] != 0.1 or plain["psl_tau"] != 0.1


@pytest.mark.parametrize("model,dataset,loss,expected", [
    ("LightGCN", "electronic", "BSL", {"learning_rate": 0.01, "weight_decay": 0.0, "bsl_tau1": 0.2, "bsl_tau2": 0.2}),
    ("LightGCN", "gowalla", "SL@K", {"learning_rate": 0.01, "slatk_tau": 0.1, "slatk_tau_w": 0.75, "slatk_t_beta": 5}),
    ("MF", "amazon-book", "BPR", {"learning_rate": 1e-4, "weight_decay": 0.0}),
    ("XSimGCL", "amazon-book", "BPR", {"learning_rate": 1e-4, "weight_decay": 1e-5}),
    ("MF", "electronic", "LLPAUC", {"learning_rate": 0.1, "llpauc_alpha": 0.5, "llpauc_beta": 0.01}),
    ("MF", "amazon-book", "AdvInfoNCE", {"learning_rate": 0.01, "advinfonce_tau": 0.1}),
    # SL@K paper Tables 11 and 13, SONG@20 (lr, wd, gamma_g, eta_lambda)
    ("MF", "health", "SONG@K", {"learning_rate": 0.1, "weight_decay": 0.0, "songatk_gamma_g": 0.9, "songatk_eta_lambda": 0.001}),
    ("XSimGCL", "health", "SONG@K", {"learning_rate": 0.1, "songatk_gamma_g": 0.1, "songatk_eta_lambda": 0.01}),
    ("LightGCN", "gowalla", "SONG@K", {"learning_rate": 0.1, "songatk_gamma_g": 0.7, "songatk_eta_lambda": 0.001, "songatk_k": 20}),
    # SL@K paper Tables 11-13, GuidedRec (lr, wd); IR-Benchmark's 9 negatives from the loss's YAML
    ("MF", "health", "GuidedRec", {"learning_rate": 0.01, "weight_decay": 0.0, "neg_num": 9}),
    ("XSimGCL", "health", "GuidedRec", {"learning_rate": 0.001, "weight_decay": 1e-6}),
    ("LightGCN", "electronic", "GuidedRec", {"learning_rate": 0.01, "weight_decay": 0.0}),
    ("XSimGCL", "gowalla", "GuidedRec", {"learning_rate": 0.001, "weight_decay": 0.0}),
    ("LightGCN", "health", "CW", {"learning_rate": 0.1, "cw_tau": 0.1, "cw_beta": 0.8, "cw_tau_plus": 0.1, "pos_num": 4}),
    ("BPR", "health", None, {"learning_rate": 1e-3, "weight_decay": 1e-4}),
    ("LightGCN", "electronic", None, {"learning_rate": 1e-2, "weight_decay": 1e-6}),
])
def test_published_values(model, dataset, loss, expected):
    c = config(model, dataset, loss)
    assert {k: c[k] for k in expected} == expected
    assert all(type(c[k]) is type(v) for k, v in expected.items())


def test_user_settings_win_over_the_preset(tmp_path):
    c = config("MF", "health", "PSL", cmd_args=["--learning_rate=0.05"])
    assert c["learning_rate"] == 0.05 and c["psl_tau"] == 0.1
    yaml = tmp_path / "mine.yaml"
    yaml.write_text("psl_tau: 0.2\n", encoding="utf-8")
    c = Config("MF", "health", config_file_list=[str(yaml)], config_dict={"loss": "PSL", "preset": "paper"})
    assert c["psl_tau"] == 0.2 and c["learning_rate"] == 0.1
    # the preset sits above the dataset YAML and below the user: the protocol keys stay the dataset's
    assert (c["epochs"], c["eval_step"], c["train_batch_size"]) == (200, 5, 1024)


def test_preset_from_the_command_line():
    c = Config("MF", "health", config_dict={"loss": "PSL"}, cmd_args=["--preset=paper"])
    assert c["learning_rate"] == 0.1


def test_errors_list_the_valid_choices():
    with pytest.raises(ValueError, match=r"unknown preset 'papers'; valid presets: paper"):
        Config("MF", "health", config_dict={"loss": "PSL", "preset": "papers"})
    with pytest.raises(ValueError, match=r"no settings for model MF with loss DrRL on health; .*MF: AdvInfoNCE, BPR, BSL, CW"):
        config("MF", "health", "DrRL")
    with pytest.raises(ValueError, match=r"stock model SimpleX .*LightGCN: "):
        config("SimpleX", "health")
    with pytest.raises(ValueError, match=r"no settings for dataset 'ml-100k'; it covers: amazon-book, electronic, gowalla, health"):
        config("MF", "ml-100k", "PSL")


def test_coverage():
    covered = preset_combinations("paper")
    assert sorted(covered) == ["amazon-book", "electronic", "gowalla", "health"]
    for dataset, models in covered.items():
        published = ["AdvInfoNCE", "BPR", "BSL", "CW", "LLPAUC", "PSL", "SL", "SL@K"]
        if dataset != "amazon-book":  # SONG@20 and GuidedRec: Tables 11-13 (Health, Electronic, Gowalla)
            published = sorted(published + ["GuidedRec", "SONG@K"])
        assert models == {"BPR": ["stock"], "LightGCN": sorted(published + ["stock"]), "MF": published,
                          "XSimGCL": published}


def test_tuned_preset_holds_the_settings_selected_on_validation():
    tuned = ["CCL", "CW", "DrRL", "PSL", "SL@K"]
    assert preset_combinations("tuned") == {"health": {"LightGCN": tuned, "MF": tuned}}
    c = config("MF", "health", "CW", preset="tuned")
    assert (c["learning_rate"], c["cw_tau"], c["cw_beta"], c["cw_weighting"], c["cw_tau_plus"]) == (0.1, 0.1, 1.0, "spec", 0.1)
    c = config("LightGCN", "health", "PSL", preset="tuned")
    assert (c["learning_rate"], c["psl_tau"], c["psl_activation"]) == (0.001, 0.1, "atan")
    c = config("MF", "health", "CCL", preset="tuned")
    assert (c["learning_rate"], c["ccl_margin"], c["ccl_neg_weight"]) == (0.1, 0.7, 10.0)
    c = config("LightGCN", "health", "SL@K", preset="tuned")
    assert (c["learning_rate"], c["slatk_tau"], c["slatk_tau_w"], c["slatk_k"]) == (0.001, 0.2, 2.5, 20)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: str(p.relative_to(p.parents[4])))
def test_every_preset_file_is_valid_and_documented(path):
    preset, dataset, model, loss = path.parts[-4], path.parts[-3], path.parts[-2], path.stem
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l and not l.startswith("#")]
    assert lines
    for line in lines:
        assert re.match(r"^\w+: \S+\s+# \([a-z ]+\) \S", line), line
    c = config(model, dataset, None if loss == "stock" else loss, preset)  # validates every loss key and value
    for line in lines:
        key = line.split(":")[0]
        assert key in c.final_config_dict


def test_package_data_ships_every_preset():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    patterns = [p.strip() for p in cfg["options.package_data"]["recbole_losses.properties"].split(",")]
    for path in PRESETS:
        rel = path.relative_to(properties_dir()).as_posix()
        assert any(fnmatch.fnmatch(rel, p) and rel.count("/") == p.count("/") for p in patterns), rel
