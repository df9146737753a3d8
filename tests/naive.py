"""Naive float64 per-row loops of SL, PSL and CW, written from docs/losses.md, and the score
batches the losses are compared with them on (shared by the per-loss test modules)."""

import math

import torch

B, N, M = 5, 8, 3


def scores(seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = torch.rand(B, generator=g, dtype=torch.float64) - 0.5  # half-cosine-like range
    neg = torch.rand(B, N, generator=g, dtype=torch.float64) - 0.5
    spos = torch.rand(B, M, generator=g, dtype=torch.float64) - 0.5
    return pos, neg, spos


def sigma(d, activation):
    return {
        "relu": max(d + 1.0, 0.0),
        "tanh": math.tanh(d) + 1.0,
        "atan": math.atan(d) + 1.0,
        "exp": math.exp(d),
    }[activation]


def naive_sl(pos, neg, tau):
    return sum(math.log(sum(math.exp((neg[b][j] - pos[b]) / tau) for j in range(N))) for b in range(B)) / B


def naive_psl(pos, neg, tau, activation):
    out = 0.0
    for b in range(B):
        out += math.log(sum(sigma(neg[b][j] - pos[b], activation) ** (1 / tau) for j in range(N)))
    return out / B


def naive_cw(pos, neg, spos, tau, beta, tau_plus, activation, floor=0.01, z=None):
    out = 0.0
    for b in range(B):
        w = [math.exp(-beta * (neg[b][j] - pos[b])) for j in range(N)]
        zb = sum(w) / N if z is None else z[b]
        a = sum(w[j] / zb * sigma(neg[b][j] - pos[b], activation) ** (1 / tau) for j in range(N)) / N
        c = sum(sigma(spos[b][k] - pos[b], activation) ** (1 / tau) for k in range(M)) / M
        g = max((a - tau_plus * c) / (1 - tau_plus), floor * a / (1 - tau_plus))
        out += math.log(N * g)
    return out / B


def lists(*tensors):
    return [t.tolist() for t in tensors]


def naive_a(pos, neg, tau, beta):
    p, row = pos.item(), neg[0].tolist()
    w = [math.exp(-beta * (n - p)) for n in row]
    z = sum(w) / len(w)
    return sum(wi / z * sigma(n - p, "relu") ** (1 / tau) for wi, n in zip(w, row)) / len(row)
