"""One table of settings: RecBole's keys and ours, the models' own, and the keys of every registered
loss read from the registry; a loss prefix that would take a setting is refused when the loss is
registered; every value a search space can reach is checked by the table before any trial."""

import math
import re
from pathlib import Path

import pytest
import recbole

import recbole_losses
from recbole_losses import Config, register_loss
from recbole_losses.config_checks import RECBOLE_READS, check_value, known_keys, loss_rules, recbole_keys, settings_keys
from recbole_losses.losses import LOSSES, RankingLoss, check_positive
from recbole_losses.losses import registry
from recbole_losses.tuning.space import SpaceError, check_ranges, parse_params


@pytest.fixture
def registered():
    """Losses registered by a test, removed after it."""
    before, aliases = dict(LOSSES), dict(registry._ALIASES)
    yield
    LOSSES.clear(), LOSSES.update(before)
    registry._ALIASES.clear(), registry._ALIASES.update(aliases)


def a_loss(name, prefix):
    class Probe(RankingLoss):
        def __init__(self, tau: float = 0.5):
            super().__init__()
            self.tau = check_positive(self.name, "tau", tau)

        def row_loss(self, pos_score, neg_score, **_):
            return -pos_score

    Probe.name, Probe.prefix = name, prefix
    return Probe


# ---------------------------------------------------------------------------------------------
# Registration: a prefix owns its keys
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix,taken", [("neg_", "neg_alpha, neg_distribution, neg_noise_ratio, neg_num"),
                                          ("train_", "train_batch_size"), ("eval_", "eval_args"),
                                          ("learning_", "learning_rate"), ("n", "n_cate")])
def test_a_prefix_that_starts_a_setting_is_refused_at_registration(registered, prefix, taken):
    with pytest.raises(ValueError, match=rf"loss Probe: prefix {prefix!r} starts the config key\(s\) .*{taken}.* of "
                                         r"RecBole or recbole-losses, which would be read as the loss's own keys"):
        register_loss(a_loss("Probe", prefix))
    assert "Probe" not in LOSSES and "probe" not in registry._ALIASES


@pytest.mark.parametrize("prefix,other", [("c", "CCL"), ("cw_t", "CW"), ("", None)])
def test_a_prefix_that_overlaps_another_loss_or_is_empty_is_refused(registered, prefix, other):
    message = f"overlaps loss {other}'s prefix" if other else "prefix must be a non-empty string such as 'probe_'"
    with pytest.raises(ValueError, match=re.escape(message)):
        register_loss(a_loss("Probe", prefix))


def test_neg_num_stays_a_setting_whatever_losses_are_registered(workdir, registered):
    register_loss(a_loss("Probe", "probe_"))
    config = Config("MF", "ml-100k", None, {"loss": "Probe", "neg_num": 7, "probe_tau": 2.0})
    assert config["neg_num"] == 7 and config["probe_tau"] == 2.0


def test_every_shipped_loss_prefix_passes_the_registration_check():
    for cls in LOSSES.values():
        assert registry._prefix_problem(cls) is None, cls.name


def test_a_loss_registered_later_extends_the_table(workdir, registered):
    assert "probe_tau" not in loss_rules()  # the table was read before
    register_loss(a_loss("Probe", "probe_"))
    assert "probe_tau" in loss_rules() and "probe_tau" in known_keys() and "probe_tau" not in settings_keys()
    with pytest.raises(ValueError, match=r"invalid loss hyperparameter \(probe_\* config keys\): Probe: tau must be a "
                                         r"number > 0, got -1.0"):
        check_value("probe_tau", -1)
    with pytest.raises(ValueError, match=r"unknown config key 'probe_tua' for loss Probe; valid Probe keys: probe_tau"):
        Config("MF", "ml-100k", None, {"loss": "Probe", "probe_tua": 1.0})
    space = parse_params("probe_tau uniform -1,1\n")
    with pytest.raises(SpaceError, match=r"probe_tau uniform -1,1 reaches probe_tau = -1.0, which a run rejects"):
        check_ranges(space, Config("MF", "ml-100k", None, {"loss": "Probe"}))


# ---------------------------------------------------------------------------------------------
# Where the known keys come from: data, not a regex over source text (these tests read the source
# to prove the lists complete)
# ---------------------------------------------------------------------------------------------

_READS = re.compile(r"""(?:config|cfg|config_dict|final_config_dict|external_config_dict)\s*(?:\[|\.get\()\s*["']([A-Za-z_]\w*)["']""")


def _reads(folder: Path) -> set[str]:
    return {key for path in folder.rglob("*.py") for key in _READS.findall(path.read_text(encoding="utf-8"))}


def test_every_key_recboles_code_reads_is_known():
    tuning_words = {"choice", "uniform", "quniform", "loguniform"}  # run_hyper's space, not settings
    missing = _reads(Path(recbole.__file__).parent) - recbole_keys() - tuning_words
    assert missing == set(), f"add to RECBOLE_READS: {sorted(missing)}"
    assert len(RECBOLE_READS) == len(set(RECBOLE_READS))


def test_every_key_our_code_reads_is_known():
    missing = _reads(Path(recbole_losses.__file__).parent) - known_keys()
    assert missing == set(), f"add to SPECS (config_checks): {sorted(missing)}"


# ---------------------------------------------------------------------------------------------
# Search spaces: every value a space reaches, through the table, before any trial
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model,loss,line,message", [
    ("MF", "PSL", "train_batch_size quniform 0,64,32",
     "train_batch_size quniform 0,64,32 reaches train_batch_size = 0, which a run rejects: train_batch_size must be an "
     "integer >= 1, got 0 (int)"),
    ("MF", "PSL", "learning_rate choice [-1, 0.1]",
     "learning_rate choice [-1, 0.1] reaches learning_rate = -1, which a run rejects: learning_rate must be a number > 0, "
     "got -1 (int)"),
    ("MF", "PSL", "neg_noise_ratio loguniform -3,1",
     f"reaches neg_noise_ratio = {math.exp(1)!r}, which a run rejects: neg_noise_ratio must be a number in [0, 1) or None"),
    ("MF", "PSL", "embedding_size uniform 32,64",
     "embedding_size uniform 32,64 reaches embedding_size = 32.0, which a run rejects: embedding_size must be an integer >= 1"),
    ("MF", "PSL", "require_pow choice [True, 'yes']",
     "reaches require_pow = 'yes', which a run rejects: require_pow must be True or False, got 'yes' (str)"),
    ("MF", "PSL", "psl_tau uniform -0.1,0.5",
     "reaches psl_tau = -0.1, which a run rejects: invalid loss hyperparameter (psl_* config keys): PSL: tau must be a "
     "number > 0, got -0.1"),
    ("XSimGCL", "PSL", "layer_cl quniform 0,5,1",
     "reaches layer_cl = 5, which a run rejects: XSimGCL: layer_cl must be an integer in [0, n_layers = 3], got 5"),
])
def test_a_space_is_checked_by_the_table_before_any_trial(workdir, model, loss, line, message):
    config = Config(model, "ml-100k", None, {"loss": loss})
    with pytest.raises(SpaceError) as err:
        check_ranges(parse_params(line + "\n", "space.hyper"), config, "space.hyper")
    assert message in str(err.value)
    assert str(err.value).startswith("space.hyper: ")


def test_a_valid_space_passes_and_leaves_the_config_as_it_was(workdir):
    config = Config("MF", "ml-100k", None, {"loss": "PSL"})
    before = dict(config.final_config_dict)
    check_ranges(parse_params("learning_rate loguniform -8,0\ntrain_batch_size choice [256,1024]\n"
                              "psl_tau choice [0.05,0.1]\nmy_key choice [a, b]\n"), config)
    assert config.final_config_dict == before


@pytest.mark.parametrize("spec,shown", [("[1, 1]", "1 twice"), ("[0.1, 0.10]", "0.1 twice"),
                                        ("[1, 1.0]", "1 and 1.0, which are equal"),
                                        ("[True, 1]", "True and 1, which are equal"), ("[a, b, a]", "'a' twice"),
                                        ("[[64, 64], [64, 64]]", "[64, 64] twice")])
def test_a_value_listed_twice_in_a_choice_is_refused(spec, shown):
    with pytest.raises(SpaceError, match=re.escape(f"space, line 1: x choice lists {shown}: {spec!r}; list every value once")):
        parse_params(f"x choice {spec}\n", "space")
