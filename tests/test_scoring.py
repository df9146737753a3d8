"""recbole_losses.scoring: both candidate-scoring paths give the scores of a naive loop."""

import torch

from recbole_losses.scoring import MATMUL_MAX_RATIO, candidate_scores


def test_candidate_scores_matmul_and_gather_paths_agree():
    g = torch.Generator().manual_seed(0)
    user = torch.randn(6, 8, generator=g, dtype=torch.float64)
    small = torch.randn(12, 8, generator=g, dtype=torch.float64)  # 12 <= 48 * 5: matmul path
    large = torch.randn(300, 8, generator=g, dtype=torch.float64)  # 300 > 48 * 5: gather path
    assert 12 <= MATMUL_MAX_RATIO * 5 < 300
    for table in (small, large):
        ids = torch.randint(0, table.shape[0], (6, 5), generator=g)
        expected = torch.stack([torch.stack([user[b] @ table[ids[b, j]] for j in range(5)]) for b in range(6)])
        torch.testing.assert_close(candidate_scores(user, table, ids), expected)
