import os
import sys

import pytest
import torch

import recbole_losses  # noqa: F401  (applies the compatibility layer)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """RecBole writes log/, saved/ and log_tensorboard/ relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [sys.argv[0]])
    return tmp_path


SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
