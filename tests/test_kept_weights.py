"""Test numbers from kept weights (issue #30): the path the headline's test accuracy takes (the best
network is trained for Table 1 without ``report_test``; its test numbers are added afterwards from
its weights, stored in fp16: ``experiments.add_test_numbers``). They must equal the numbers the end
of training measured on the full-precision network, up to what rounding the weights to fp16 can move.

fp16 keeps 11 significant bits (unit roundoff 2^-11): a prediction may change only on an image whose
two best scores lie closer than that can resolve; we count an image as such when they differ by less
than 2^-8 of the best score (eight roundoffs). Everywhere else the confusion matrices must agree.
"""
import pytest
import torch

from ffcnn_lib import Config, experiments, inference, run_or_load
from ffcnn_lib.data import load_split

TINY = dict(kernel=3, n_train=300, n_val=50, n_test=300, epochs=2, batch_size=20, report_test=True)
CLOSE = 2.0 ** -8


def _close_calls(scores: torch.Tensor) -> int:
    top = scores.topk(2, dim=1).values
    return int(((top[:, 0] - top[:, 1]) < CLOSE * top[:, 0].abs()).sum())


@pytest.mark.parametrize("config", [Config(filters=(4, 4), lr=3e-3, init="loewe", **TINY),
                                    Config.bp(filters=(2, 2, 2), **TINY)], ids=["ff", "bp"])
def test_test_numbers_from_kept_fp16_weights_equal_those_at_the_end_of_training(results_root, config):
    result = run_or_load(config, device="cpu", progress=False, save_weights=True)
    at_end = result.summary["final"]
    kept = experiments.evaluate_test(result, "cpu")
    model, (x, y) = result.load_model(), load_split("test", config.n_test)
    methods = {"linear": inference.linear_logits, "goodness": inference.goodness_scores} if config.model == "ff" \
        else {"bp": lambda m, enc, x: inference.bp_logits(m, x)}
    for name, scores in methods.items():
        close = _close_calls(scores(model, config.label_encoder(), x))
        assert close <= 0.1 * config.n_test, f"{name}: too many near-ties for the comparison to mean anything"
        cm_end, cm_kept = (torch.tensor(d[f"test_confusion_{name}"]) for d in (at_end, kept))
        assert cm_end.sum() == cm_kept.sum() == config.n_test
        assert cm_end.sum(1).tolist() == torch.bincount(y, minlength=10).tolist()  # rows: the test images' digits
        assert (cm_end - cm_kept).abs().sum() <= 2 * close, name
        assert abs(at_end[f"test_acc_{name}"] - kept[f"test_acc_{name}"]) <= close / config.n_test, name
