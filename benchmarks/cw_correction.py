r"""How much of CW's positive-unlabeled correction is active in a trained model.

CW's corrected estimate is G = (A − τ⁺C)/(1 − τ⁺), floored at floor·A/(1 − τ⁺) (docs/losses.md):
A is the weighted mean of φ(d_j) over the row's N negatives, C the mean of φ(d_k) over its M
sampled positives. Where τ⁺C/A ≥ 1 − floor the floor binds and the row trains as L_W (weighting
only); elsewhere the correction scales the gradient on the negatives by 1/(1 − τ⁺C/A).

This script loads a checkpoint written by our trainer (any backbone trained with CW, e.g. from
``benchmarks/compare.py``), scores one epoch of training rows (the sampled batch mode's N
negatives and M positives) with the trained parameters, and prints, for several τ⁺, the share of
rows where the floor binds and the gradient amplification 1/(1 − τ⁺C/A) of the others.
C/A does not depend on τ⁺, so one pass serves every τ⁺.

    python benchmarks/cw_correction.py saved/MF-....pth --data_path /data [--tau_plus 0.02 0.05 0.1 0.15]
"""

from __future__ import annotations

import argparse
import math
import warnings

import torch

from recbole_losses.data.dataloader import SAMPLED_POS_ITEM_ID
from recbole_losses.quick_start import load_data_and_model


@torch.no_grad()
def log_c_over_a(model, train) -> torch.Tensor:
    """log(C/A) for every training row of one epoch of ``train``, by the model's own scoring
    (:meth:`LossRecommender.score_candidates`) and its own CW loss."""
    loss = model.loss
    out = []
    for batch in train:
        neg, sampled = batch[model.NEG_ITEM_ID], batch[SAMPLED_POS_ITEM_ID]
        items = torch.cat([batch[model.ITEM_ID].unsqueeze(1), neg, sampled], dim=1)  # [B, 1 + N + M]
        scores = model.score_candidates(batch[model.USER_ID], items)
        pos, neg_score, sampled_score = scores.split([1, neg.shape[1], sampled.shape[1]], dim=1)
        d, d_pos = neg_score - pos, sampled_score - pos
        out.append(loss.log_c(d_pos) - (loss.log_n_a(d) - math.log(d.shape[1])))
    return torch.cat(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data_path", default=None)
    parser.add_argument("--tau_plus", type=float, nargs="+", default=[0.02, 0.05, 0.1, 0.15])
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="recbole")
    overrides = {"state": "ERROR", **({"data_path": args.data_path} if args.data_path else {})}
    _, model, _, train, _, _ = load_data_and_model(args.checkpoint, overrides)
    if model.loss.name != "CW":
        raise SystemExit(f"{args.checkpoint} was trained with {model.loss.name}, not CW")
    ratio = log_c_over_a(model, train).exp()
    print(f"{model.loss!r}; {ratio.numel()} training rows; C/A median {ratio.median().item():.2f}\n")
    print("| τ⁺ | floor binds (rows) | median 1/(1 − τ⁺C/A), active rows | 90th percentile |")
    print("| ---: | ---: | ---: | ---: |")
    for tau_plus in args.tau_plus:
        r = tau_plus * ratio
        active = r < 1 - model.loss.floor
        gain = 1 / (1 - r[active])
        median = gain.median().item() if gain.numel() else math.nan
        p90 = torch.quantile(gain, 0.9).item() if gain.numel() else math.nan
        print(f"| {tau_plus} | {(~active).float().mean().item():.1%} | {median:.2f} | {p90:.1f} |")


if __name__ == "__main__":
    main()
