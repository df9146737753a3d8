"""recbole_losses.allocator: glibc's settings for reusing freed tensor memory are applied once
per process on Linux, and the environment variable turns them off."""

import platform

import pytest

from recbole_losses import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_applies_on_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.delenv("RECBOLE_LOSSES_KEEP_MEMORY", raising=False)
    assert allocator.keep_freed_memory() is True
    assert allocator.keep_freed_memory() is True  # once per process: the cached answer


def test_the_environment_variable_turns_it_off(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", None)
    monkeypatch.setenv("RECBOLE_LOSSES_KEEP_MEMORY", "0")
    assert allocator.keep_freed_memory() is False
