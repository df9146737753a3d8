r"""Cost of ``torch.use_deterministic_algorithms`` on CPU (turned on by ``build_run`` under
RecBole's ``reproducibility``): seconds per MF + SL training step with B = 1024, N = 1000, d = 64
on a Gowalla-sized table (30,000 users, 40,000 items), alternating off/on twice, 5 steps each.

    nice -n 15 python benchmarks/deterministic_cost.py
"""

import time

import torch


def main() -> None:
    torch.manual_seed(0)
    n_users, n_items, dim, b, n = 30000, 40000, 64, 1024, 1000
    user_e, item_e = torch.nn.Embedding(n_users, dim), torch.nn.Embedding(n_items, dim)
    optimizer = torch.optim.Adam([*user_e.parameters(), *item_e.parameters()], lr=1e-3)

    def step():
        u, p = torch.randint(0, n_users, (b,)), torch.randint(0, n_items, (b,))
        neg = torch.randint(0, n_items, (b, n))
        eu = user_e(u)
        pos_score = (eu * item_e(p)).sum(1)
        neg_score = torch.bmm(item_e(neg), eu.unsqueeze(2)).squeeze(2)
        loss = torch.logsumexp((neg_score - pos_score[:, None]) / 0.1, 1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for deterministic in (False, True, False, True):
        torch.use_deterministic_algorithms(deterministic)
        step()
        start = time.perf_counter()
        for _ in range(5):
            step()
        print(f"deterministic={deterministic}: {(time.perf_counter() - start) / 5:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
