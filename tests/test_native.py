"""The package's C kernels: the compiled sampler's exact stream (against a pure-Python reference),
the same draws for any split over threads, never a training positive; the counting sort of the
fused scoring equal to the stable sort; the torch/NumPy fallbacks with one log line where no
compiler works."""

import logging

import numpy as np
import pytest
import torch

from recbole_losses import native, scoring
from recbole_losses.data.sampler import TrainingItemSampler

needs_compiler = pytest.mark.skipif(native.library() is None, reason="no C compiler builds the sampler here")

MASK = 2**64 - 1
U, I = 12, 30


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class _Stream:
    """wyrand from state s_b = mix(seed + b·G), each 64-bit number served as two 32-bit halves
    (low first), each half bounded by Lemire's method with rejection."""

    def __init__(self, seed, row):
        self.state, self.halves = _mix((seed + row * 0x9E3779B97F4A7C15) & MASK), []

    def _next32(self):
        if not self.halves:
            self.state = (self.state + 0xA0761D6478BD642F) & MASK
            t = self.state * (self.state ^ 0xE7037ED1A0B428DB)
            x = ((t >> 64) ^ t) & MASK
            self.halves = [x >> 32, x & 0xFFFFFFFF]
        return self.halves.pop()

    def bounded(self, high):
        while True:
            m = self._next32() * high
            if m & 0xFFFFFFFF >= (2**32 - high) % high:
                return m >> 32


def reference_negatives(sets, users, num, seed, max_rounds):
    """The draws as the module docstring defines them, one entry at a time."""
    out = []
    for b, user in enumerate(users):
        stream, row = _Stream(seed, b), []
        for _ in range(num):
            for _ in range(max_rounds):
                item = 1 + stream.bounded(I - 1)
                if item not in sets[user]:
                    break
            else:  # the r-th (0-based) item of 1..I-1 the user never interacted with
                item = sorted(set(range(1, I)) - sets[user])[stream.bounded(I - 1 - len(sets[user]))]
            row.append(item)
        out.append(row)
    return torch.tensor(out)


def _pairs():
    """Users with no, few and almost all items (rows that hit the complement draw)."""
    g = torch.Generator().manual_seed(5)
    users = torch.cat([torch.randint(1, U, (60,), generator=g), torch.full((I - 3,), 2)])
    items = torch.cat([torch.randint(1, I, (60,), generator=g), torch.arange(1, I - 2)])
    sets = {u: set() for u in range(U)}
    for u, i in zip(users.tolist(), items.tolist()):
        sets[u].add(i)
    return users, items, sets


@needs_compiler
@pytest.mark.parametrize("max_rounds", [20, 2, 0])
def test_compiled_draws_are_the_documented_stream(max_rounds):
    users, items, sets = _pairs()
    s = TrainingItemSampler(users, items, U, I, max_rounds=max_rounds)
    rows = torch.tensor([2, 0, 5, 2, 7, 11, 3])
    seed = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(9)))
    drawn = s.negatives(rows, 40, generator=torch.Generator().manual_seed(9))
    assert torch.equal(drawn, reference_negatives(sets, rows.tolist(), 40, seed, max_rounds))
    for r, u in enumerate(rows.tolist()):
        assert not set(drawn[r].tolist()) & sets[u]


@needs_compiler
def test_compiled_positives_are_the_documented_stream():
    users, items, sets = _pairs()
    s = TrainingItemSampler(users, items, U, I)
    rows = torch.tensor([2, 5, 2, 7, 11, 3])
    seed = int(torch.randint(0, 2**62, (), generator=torch.Generator().manual_seed(4)))
    drawn = s.positives(rows, 25, generator=torch.Generator().manual_seed(4))
    expected = [[sorted(sets[u])[stream.bounded(len(sets[u]))] for _ in range(25)]
                for stream, u in ((_Stream(seed, b), u) for b, u in enumerate(rows.tolist()))]
    assert torch.equal(drawn, torch.tensor(expected))
    with pytest.raises(ValueError, match=r"users \[0\] have no training items"):
        s.positives(torch.tensor([2, 0]), 3)


@needs_compiler
def test_compiled_draws_do_not_depend_on_the_threads(monkeypatch):
    users, items, _ = _pairs()
    s = TrainingItemSampler(users, items, U, I)
    rows = torch.randint(0, U, (101,), generator=torch.Generator().manual_seed(1))
    one = s.negatives(rows, 64, generator=torch.Generator().manual_seed(4))
    monkeypatch.setattr(native, "MIN_PARALLEL_ENTRIES", 1)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        split = s.negatives(rows, 64, generator=torch.Generator().manual_seed(4))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, split)


@needs_compiler
def test_compiled_and_numpy_samplers_draw_from_the_same_distribution():
    """Both are uniform over the user's free items: their frequencies agree (two-sample chi-square)."""
    users, items, sets = _pairs()
    free = sorted(set(range(1, I)) - sets[2])
    counts = []
    for compiled in (True, False):
        s = TrainingItemSampler(users, items, U, I, compiled=compiled)
        draws = s.negatives(torch.tensor([2] * 200), 200, generator=torch.Generator().manual_seed(2)).flatten()
        counts.append(torch.bincount(draws, minlength=I).double())
    a, b = counts
    assert a[free].sum() == b[free].sum() == 40000
    chi2 = float(((a[free] - b[free]) ** 2 / (a[free] + b[free])).sum())
    assert chi2 < len(free) + 6 * (2 * len(free)) ** 0.5


def test_without_a_compiler_the_sampler_draws_with_numpy_and_says_so(monkeypatch, caplog):
    users, items, _ = _pairs()
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native.library.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger=native.__name__):
            fallback = TrainingItemSampler(users, items, U, I).negatives(
                torch.arange(U), 30, generator=torch.Generator().manual_seed(3))
            TrainingItemSampler(users, items, U, I).negatives(torch.arange(U), 30)
    finally:
        native.library.cache_clear()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("C kernels unavailable (/nonexistent/cc: ")
    assert lines[0].endswith("using the torch/NumPy paths")
    numpy = TrainingItemSampler(users, items, U, I, compiled=False).negatives(
        torch.arange(U), 30, generator=torch.Generator().manual_seed(3))
    assert torch.equal(fallback, numpy)


@needs_compiler
def test_the_compile_time_is_logged_once_per_process(caplog):
    native.library.cache_clear()
    with caplog.at_level(logging.INFO, logger=native.__name__):
        assert native.library() is native.library() is not None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("compiled the C kernels with ") and lines[0].endswith(" s")


def test_turned_off_by_the_environment(monkeypatch, caplog):
    monkeypatch.setenv("RECBOLE_LOSSES_NATIVE", "0")
    native.library.cache_clear()
    try:
        with caplog.at_level(logging.INFO, logger=native.__name__):
            assert native.library() is None
    finally:
        native.library.cache_clear()
    assert [r.getMessage() for r in caplog.records] == [
        "C kernels turned off (RECBOLE_LOSSES_NATIVE=0); using the torch/NumPy paths"]


def _sorted_grouping(items, n_items):
    """The reference: a stable argsort of the flat items, and the segment starts from the counts."""
    flat = items.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    counts = torch.bincount(flat, minlength=n_items)
    return torch.cumsum(counts, 0) - counts, order, order // items.shape[1]


@needs_compiler
@pytest.mark.parametrize("shape,n_items", [((1, 1), 1), ((5, 4), 3), ((64, 33), 500), ((300, 257), 7000)])
def test_counting_sort_groups_like_a_stable_sort(shape, n_items, monkeypatch):
    g = torch.Generator().manual_seed(shape[0])
    items = torch.randint(0, n_items, shape, generator=g)
    items[0] = items[0, 0]  # repeated candidates in a row
    monkeypatch.setattr(native, "MIN_PARALLEL_ENTRIES", 1)  # threads split the rows even here
    got = native.group_by_item(items, n_items)
    for a, b in zip(got, _sorted_grouping(items, n_items)):
        assert a.dtype == torch.int32 and torch.equal(a.long(), b)


def _scores_and_gradients(user, table, items, weights):
    user, table = user.clone().requires_grad_(), table.clone().requires_grad_()
    scores = scoring.SampledScores.apply(user, table, items)
    return (scores.detach(), *torch.autograd.grad(scores, (user, table), weights))


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [1, 5, 16, 64, 100, 130])  # a tail only, whole vectors, full blocks, block + tail
def test_the_c_scoring_kernels_agree_with_torchs_and_do_not_depend_on_the_threads(dtype, dim, monkeypatch):
    g = torch.Generator().manual_seed(dim)
    user = torch.randn(40, dim, generator=g, dtype=dtype)
    table = torch.randn(900, dim, generator=g, dtype=dtype)
    items = torch.randint(0, 900, (40, 30), generator=g)
    items[:, :4] = items[:, :1]  # repeated candidates
    items[-1] = items[0, 0]  # one item in every entry of a row
    weights = torch.randn(40, 30, generator=g, dtype=dtype)
    monkeypatch.setattr(native, "MIN_PARALLEL_ENTRIES", 1)  # threads split the work even here
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _scores_and_gradients(user, table, items, weights)
        torch.set_num_threads(3)
        split = _scores_and_gradients(user, table, items, weights)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, split))
    with monkeypatch.context() as patch:
        patch.setattr(native, "library", lambda: None)  # torch's sparse and embedding_bag kernels
        reference = _scores_and_gradients(user, table, items, weights)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    for got, want in zip(one, reference):
        torch.testing.assert_close(got, want, **tolerance)
    untouched = torch.ones(900, dtype=torch.bool).index_fill_(0, items.unique(), False)
    assert untouched.any() and not one[2][untouched].any()  # the item gradient's untouched rows are zero


@pytest.mark.parametrize("compiled", [True, False])
def test_the_compiled_sampler_key_reaches_the_sampler(workdir, compiled):
    from recbole.data import create_dataset

    from recbole_losses import Config
    from recbole_losses.data.dataloader import data_preparation

    config = Config("MF", "ml-100k", config_dict={"loss": "SL", "neg_num": 5, "compiled_sampler": compiled})
    train, _, _ = data_preparation(config, create_dataset(config))
    assert train.item_sampler.compiled is compiled


@needs_compiler
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [5, 64, 70])
def test_csr_matmul_equals_scipy_adds_to_the_total_and_does_not_depend_on_the_threads(dtype, dim, monkeypatch):
    import scipy.sparse as sp

    keep = np.ones((300, 1))
    keep[7] = 0.0  # an empty row
    matrix = sp.csr_matrix(sp.random(300, 400, density=0.03, random_state=dim, dtype=np.float64).multiply(keep))
    indptr, indices = (torch.from_numpy(a.astype(np.int64)) for a in (matrix.indptr, matrix.indices))
    values = torch.from_numpy(matrix.data).to(dtype)
    dense = torch.randn(400, dim, generator=torch.Generator().manual_seed(dim), dtype=dtype)
    start = torch.randn(300, dim, dtype=dtype)
    monkeypatch.setattr(native, "MIN_PARALLEL_ENTRIES", 1)
    threads, results = torch.get_num_threads(), []
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            total = start.clone()
            results.append((native.csr_matmul(indptr, indices, values, dense, total), total))
    finally:
        torch.set_num_threads(threads)
    (product, total), (split_product, split_total) = results
    assert torch.equal(product, split_product) and torch.equal(total, split_total)
    expected = torch.from_numpy(matrix @ dense.double().numpy()).to(dtype)
    tolerance = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else {}
    torch.testing.assert_close(product, expected, **tolerance)
    assert not product[7].any()
    torch.testing.assert_close(total, start + product, **tolerance)


@needs_compiler
@pytest.mark.parametrize("dim", [5, 70])
def test_normalize_rows_kernels_do_not_depend_on_the_threads(dim, monkeypatch):
    x = torch.randn(500, dim, generator=torch.Generator().manual_seed(dim))
    grad = torch.randn(500, dim, generator=torch.Generator().manual_seed(dim + 1))
    monkeypatch.setattr(native, "MIN_PARALLEL_ENTRIES", 1)
    threads, results = torch.get_num_threads(), []
    try:
        for n in (1, 3):
            torch.set_num_threads(n)
            y, norms = native.normalize_rows(x, 1e-12)
            results.append((y, norms, native.normalize_rows_backward(grad, y, norms, 1e-12)))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*results))


@needs_compiler
def test_the_kernels_benchmark_prints_its_table(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "kernels.py"
    spec = importlib.util.spec_from_file_location("kernels_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--batch", "8", "--negs", "20", "--items", "300", "--users", "200", "--interactions", "900",
                 "--repeats", "1", "--number", "1"])
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(table) == 9 and table[1].startswith("| candidates grouped by item")
