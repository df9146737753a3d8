"""The loss registry: names, and that every loss the package holds is registered, documented by
its YAML defaults, covered by the contract tests and tested in a module of its own; docstrings
state ranges, not default values (those live in the signature and the YAML)."""

import importlib
import re
from pathlib import Path

import pytest

import recbole_losses.losses as losses
from recbole_losses import LOSSES, available_losses, build_loss
from recbole_losses.config import properties_dir

TESTS = Path(__file__).resolve().parent


def test_unknown_loss_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown loss 'XYZ'; valid choices: .*BPR, .*CW, .*PSL, .*SL"):
        build_loss("XYZ")


def test_names_are_case_insensitive():
    assert type(build_loss("cw")).__name__ == "CW" and type(build_loss("softmax")).__name__ == "SL"


@pytest.mark.parametrize("module", losses.loss_modules())
def test_every_loss_module_registers_a_loss_and_has_its_tests(module):
    mod = importlib.import_module(f"recbole_losses.losses.{module}")
    registered = [cls for cls in LOSSES.values() if cls.__module__ == mod.__name__]
    assert registered, f"losses/{module}.py registers no loss (decorate its class with @register_loss)"
    assert (TESTS / f"test_loss_{module}.py").is_file(), f"no tests/test_loss_{module}.py for losses/{module}.py"
    for cls in registered:
        assert getattr(losses, cls.__name__) is cls  # importable from recbole_losses.losses
        assert (properties_dir() / "loss" / f"{cls.name}.yaml").is_file(), f"no properties/loss/{cls.name}.yaml"
        # the tuner's default search space of the loss (recbole-losses-tune --loss=<Name>)
        assert (properties_dir() / "hyper" / f"{cls.name}.hyper").is_file(), f"no properties/hyper/{cls.name}.hyper"


def test_every_registered_loss_comes_from_a_loss_module_and_is_under_contract():
    import test_losses_contract

    modules = {f"recbole_losses.losses.{m}" for m in losses.loss_modules()}
    assert {cls.__module__ for cls in LOSSES.values()} <= modules
    assert test_losses_contract.NAMES == available_losses()




@pytest.mark.parametrize(
    "name",
    available_losses(),
)
def test_docstrings_state_no_default_values(name):
    cls = LOSSES[name]
    doc = cls.__doc__ or ""
    assert not re.search(r"\(default[ ,]", doc), f"{name}: the docstring restates a default"
    for param, default in cls.param_defaults().items():
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            assert not re.search(rf"\b{param}\b[^;,.]*\({re.escape(repr(default))}\)", doc), (
                f"{name}: the docstring restates the default of {param}"
            )
