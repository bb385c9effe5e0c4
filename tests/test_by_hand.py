"""The network, goodness inference, accuracy and the confusion matrix on tiny networks with
hand-set weights, against numbers worked out by hand in the comments (issue #30): no expectation
here is computed by the code under test.

Layer normalization inside the network (Sec. 2.2): layer l+1 sees ``z_l / rms(z_l)``, per sample.
Goodness inference (Sec. 2.3): f_m = sum of z² over layers 2..N with label m superimposed.
"""
import math

import pytest
import torch

from ffcnn_lib.inference import accuracy, confusion_matrix, goodness_scores, goodness_scores_separate, linear_logits
from ffcnn_lib.labels import LabelEncoder
from ffcnn_lib.model import FFCNN, StackedFFCNN


def _set(conv: torch.nn.Conv2d, weight, bias: float) -> None:
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(weight, dtype=torch.float32).view_as(conv.weight))
        conv.bias.fill_(bias)


def _three_1x1_layers() -> FFCNN:
    """Three layers of one 1x1 filter: z1 = relu(x), z2 = relu(h1 - 1.3), z3 = relu(h2 - 0.5),
    where h_l is z_l normalized to a root mean square of 1 over the sample's neurons."""
    m = FFCNN((1, 1, 1), kernel=1)
    for conv, bias in zip(m.convs, (0.0, -1.3, -0.5)):
        _set(conv, [1.0], bias)
    return m


# A 2x2 "image" read row by row: (3, 0, 4, 0). By hand:
#   z1 = (3, 0, 4, 0); mean square (9 + 16) / 4 = 6.25, rms 2.5, so h1 = (1.2, 0, 1.6, 0)
#   z2 = relu(h1 - 1.3) = (0, 0, 0.3, 0); rms sqrt(0.09 / 4) = 0.15, so h2 = (0, 0, 2, 0)
#   z3 = relu(h2 - 0.5) = (0, 0, 1.5, 0); normalized (0, 0, 2, 0)
# Without the normalization between layers: z2 = relu(z1 - 1.3) = (1.7, 0, 2.7, 0), and so on.
X = torch.tensor([[3.0, 0.0], [4.0, 0.0]]).view(1, 1, 2, 2)
Z = [(3.0, 0.0, 4.0, 0.0), (0.0, 0.0, 0.3, 0.0), (0.0, 0.0, 1.5, 0.0)]
FEATURES = (0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 2.0, 0.0)  # normalized z2, then normalized z3 (layers 2..N)


def test_each_layer_sees_the_previous_layers_output_normalized_per_sample():
    m = _three_1x1_layers()
    # a second sample ten times brighter: layer 1 scales with it, the later layers see the same pattern
    zs = m.activations(torch.cat([X, 10 * X]))
    for got, want in zip(zs, Z):
        torch.testing.assert_close(got[0].flatten(), torch.tensor(want))
    torch.testing.assert_close(zs[0][1].flatten(), 10 * torch.tensor(Z[0]))
    for z in zs[1:]:
        torch.testing.assert_close(z[1], z[0])


def test_the_classifier_reads_layers_2_to_n_each_normalized():
    m = _three_1x1_layers()
    torch.testing.assert_close(m.features(m.activations(X)), torch.tensor([FEATURES]))


def test_stacked_networks_normalize_each_network_on_its_own():
    a, b = _three_1x1_layers(), _three_1x1_layers()
    _set(b.convs[0], [2.0], 0.0)  # network b: z1 = (6, 0, 8, 0), the same pattern after normalizing
    stack = StackedFFCNN([a, b], [LabelEncoder("set1", 0.35)] * 2)
    zs = stack.activations(X.unsqueeze(1).expand(1, 2, 1, 2, 2))  # (N, R, C, H, W)
    torch.testing.assert_close(zs[0][0, 0].flatten(), torch.tensor(Z[0]))
    torch.testing.assert_close(zs[0][0, 1].flatten(), 2 * torch.tensor(Z[0]))
    for got, want in zip(zs[1:], Z[1:]):
        for r in range(2):
            torch.testing.assert_close(got[0, r].flatten(), torch.tensor(want))


def _winner_network() -> FFCNN:
    """Two layers of one 3x3 filter ("same" padding) whose goodness picks one label of the one-hot
    encoding. Layer 1 sums a pixel's 3x3 neighbourhood minus 1.5, so it fires (0.5) only where a
    window holds two lit pixels; layer 2 reads its normalized input plus 1 (centre tap 1, bias 1)."""
    m = FFCNN((1, 1), kernel=3)
    _set(m.convs[0], torch.ones(3, 3), -1.5)
    centre = torch.zeros(3, 3)
    centre[1, 1] = 1.0
    _set(m.convs[1], centre, 1.0)
    return m


def _expected_goodness() -> list[float]:
    """By hand, for an image whose only lit pixel is (row 1, col 7) and label m lighting (row 0, col m):
    windows holding both pixels are centred on rows 0-1 and on the columns within 1 of both 7 and m,
    K of them: K = 6 for m = 7, 4 for m = 6, 8, 2 for m = 5, 9, none otherwise. Layer 1 is 0.5 on those
    K neurons, so normalized it is 28 / sqrt(K) there (784 neurons, mean square 1) and 0 elsewhere;
    layer 2 adds 1 everywhere: sum (h + 1)^2 = 784 + 2 * 28 * sqrt(K) + 784 = 1568 + 56 sqrt(K).
    With K = 0 layer 1 is all zero and layer 2 is 1 everywhere: 784. Layer 1 is not counted."""
    k = {7: 6, 6: 4, 8: 4, 5: 2, 9: 2}
    return [1568 + 56 * math.sqrt(k[m]) if m in k else 784.0 for m in range(10)]


def _image() -> torch.Tensor:
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 1, 7] = 1.0
    return x


@pytest.mark.parametrize("scores", [goodness_scores, goodness_scores_separate])
def test_goodness_inference_picks_the_label_a_constructed_network_prefers(scores):
    m, enc = _winner_network(), LabelEncoder("onehot", 0.35)
    got = scores(m, enc, _image())
    torch.testing.assert_close(got, torch.tensor([_expected_goodness()]), rtol=1e-5, atol=1e-3)
    assert got.argmax(1).item() == 7
    assert accuracy(got, torch.tensor([7])) == 1.0 and accuracy(got, torch.tensor([6])) == 0.0


def test_linear_inference_reads_the_label_free_image_through_layers_2_to_n():
    """On the label-free image (one lit pixel, no window with two) layer 1 is zero and layer 2 is 1
    on all 784 neurons, normalized still 1: the logits are the row sums of the classifier's weights."""
    m, enc = _winner_network(), LabelEncoder("onehot", 0.35, classifier_input="image")
    with torch.no_grad():
        m.classifier.weight.zero_()
        m.classifier.weight[3] = 1 / 784
        m.classifier.weight[5, :10] = -1.0
    torch.testing.assert_close(linear_logits(m, enc, _image()),
                               torch.tensor([[0, 0, 0, 1.0, 0, -10.0, 0, 0, 0, 0]]))


def test_accuracy_and_the_confusion_matrix_rows_are_true_labels_columns_predictions():
    # four images: true labels 0, 0, 1, 2; predicted 0, 2, 2, 2 (the highest score)
    scores = torch.full((4, 10), -1.0)
    for i, pred in enumerate((0, 2, 2, 2)):
        scores[i, pred] = 5.0
    labels = torch.tensor([0, 0, 1, 2])
    assert accuracy(scores, labels) == 0.5
    cm = confusion_matrix(scores, labels)
    want = torch.zeros(10, 10, dtype=cm.dtype)
    want[0, 0] = want[0, 2] = want[1, 2] = want[2, 2] = 1  # [true, predicted]
    assert torch.equal(cm, want)
    assert cm.sum(1)[:3].tolist() == [2, 1, 1]  # a row holds the images of one true digit (Fig. 3B)
