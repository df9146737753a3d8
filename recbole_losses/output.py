r"""What a run prints: the train loss line with its named parts, results as plain numbers, and
the third-party warnings kept from users.

- :func:`train_loss_line` replaces RecBole's ``train_loss1: ..., train_loss2: ...`` by one
  ``train loss: 2.1900 = PSL 2.1000 + contrastive 0.0900`` line, the parts named by the model
  (``loss_term_names``: the composed models and XSimGCL have them; a model without names gets
  its parts unnamed). :func:`install` puts it into RecBole's ``Trainer`` (every trainer class
  derives from it), once, on import of ``recbole_losses``.
- :func:`plain_result`: a RecBole result (an ``OrderedDict`` of NumPy floats) as a dict of floats,
  :func:`result_text`: as ``recall@10 : 0.1362    ndcg@10 : 0.1441``, RecBole's own layout.
- :func:`known_warnings_filtered`: a block in which the :data:`KNOWN_WARNINGS` raised from
  RecBole's code are not shown. The command-line entry points and the Python API (``run``,
  ``build_run``, ``load_data_and_model``) run inside it; a warning about the user's own settings
  is never one of them.
"""

from __future__ import annotations

import contextlib
import warnings

# Third-party warnings RecBole 1.2.1 triggers on today's pandas/torch, about RecBole's code and
# not about anything a user set: not shown to users of our commands and Python API.
KNOWN_WARNINGS = (
    # pandas: RecBole's Dataset._fill_nan calls fillna(inplace=True) on a column (chained assignment)
    r"A value is being set on a copy of a DataFrame or Series through chained assignment",
    # torch: RecBole's Dataset._dataframe_to_interaction wraps read-only pandas arrays
    r"The given NumPy array is not writable",
    # torch: RecBole's LightGCN/NGCF build their adjacency with torch.sparse.FloatTensor (deprecated)
    r"torch.sparse.SparseTensor\(indices, values, .*\) is deprecated",
)


@contextlib.contextmanager
def known_warnings_filtered():
    """Within the block, the :data:`KNOWN_WARNINGS` raised from RecBole's code are not shown."""
    with warnings.catch_warnings():
        for message in KNOWN_WARNINGS:
            warnings.filterwarnings("ignore", message=message, module=r"recbole(\.|$)")
        yield


def plain_result(result) -> dict | None:
    """A RecBole result (metric -> NumPy float, in an OrderedDict) as metric -> float."""
    return None if result is None else {str(k): float(v) for k, v in result.items()}


def result_text(result) -> str:
    """``recall@10 : 0.1362    ndcg@10 : 0.1441`` (RecBole's layout for validation results), or
    ``none`` for a run without one."""
    if result is None:
        return "none"
    return "    ".join(f"{k} : {v}" for k, v in plain_result(result).items())


def train_loss_line(epoch_idx: int, seconds: float, losses, names=None, decimals: int = 4) -> str:
    """``epoch 3 training [time: 2.58s, train loss: 476.4277 = PSL 476.4190 + reg 0.0087]``: the
    epoch's summed loss and, when the model returns several terms, each term named by ``names``
    (unnamed where ``names`` does not match them)."""
    from recbole.utils import set_color

    head = set_color(f"epoch {epoch_idx} training", "green") + " [" + set_color("time", "blue") + f": {seconds:.2f}s, "
    if isinstance(losses, tuple):
        total = f"{sum(losses):.{decimals}f}"
        if names is not None and len(names) == len(losses):
            parts = " + ".join(f"{name} {value:.{decimals}f}" for name, value in zip(names, losses))
        else:
            parts = " + ".join(f"{value:.{decimals}f}" for value in losses)
        return head + set_color("train loss", "blue") + f": {total} = {parts}]"
    return head + set_color("train loss", "blue") + f": {losses:.{decimals}f}]"


def _generate_train_loss_output(self, epoch_idx, s_time, e_time, losses):
    """RecBole's ``Trainer._generate_train_loss_output``, as :func:`train_loss_line`."""
    return train_loss_line(epoch_idx, e_time - s_time, losses, getattr(self.model, "loss_term_names", None),
                           self.config["loss_decimal_place"] or 4)


def install() -> None:
    """RecBole's trainers log :func:`train_loss_line` (idempotent)."""
    from recbole.trainer.trainer import Trainer

    Trainer._generate_train_loss_output = _generate_train_loss_output


__all__ = ["KNOWN_WARNINGS", "install", "known_warnings_filtered", "plain_result", "result_text", "train_loss_line"]
