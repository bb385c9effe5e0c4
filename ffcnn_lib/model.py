"""The FF-trained CNN of Sec. 2.2 and the backprop baseline of Sec. 3.1.

Data flow through :class:`FFCNN` (one layer = conv -> ReLU):

    x -> conv1 -> z1 -> norm -> [pool] -> detach -> conv2 -> z2 -> norm -> ... -> zN

* goodness of layer l: ``sum(z_l ** 2)`` over its N_l = C*H*W neurons; threshold θ_l = N_l;
* with max pooling, where goodness and the classifier read a layer the paper does not say: on its
  convolution's own output (our default), or on the pooled map the next layer receives (issue #26,
  ``goodness_maps`` / ``classifier_maps``; see :func:`read_map`);
* layer loss: binary cross-entropy of the logit ``goodness - θ`` (positive: 1, negative: 0);
* no gradient crosses layers (the input of every layer is detached), so each layer learns from its
  own loss only. The network loss sums the layer losses *without the first layer* (Sec. 2.2, App. B),
  which therefore keeps its random initial weights unless ``include_first_layer`` is set;
* the linear classifier sees the normalized activations of layers 2..N on the image without a label
  (Sec. 2.3; the paper does not say which input: see labels.LabelEncoder.for_classifier).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .labels import LabelEncoder, classifier_view

N_CLASSES = 10


# Activations are (N, C, H, W), or (N, R, C, H, W) for R networks trained side by side
# (StackedFFCNN): a layer's neurons are always the last three dimensions.
NEURONS = (-3, -2, -1)


def layer_norm(z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``y / sqrt(mean(y**2))`` over all neurons of a sample (Sec. 2.2): only the pattern passes on."""
    return z / (z.float().pow(2).mean(dim=NEURONS, keepdim=True).sqrt() + eps).to(z.dtype)


def goodness(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared activations per sample, accumulated in float32 (Sec. 2.2)."""
    return z.float().pow(2).sum(dim=NEURONS)


def ff_layer_loss(g: torch.Tensor, threshold: float, positive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Discrimination loss and accuracy of one layer (Sec. 2.2), averaged over the batch (dim 0).

    ``sigmoid(g - θ)`` is the probability that the sample is positive; the loss is its binary
    cross-entropy against ``positive`` (1 for positive data, 0 for negative) and the accuracy
    counts ``sigmoid > 0.5`` agreeing with it. ``g`` of shape (N, R) gives one loss per network.
    """
    logits = g - threshold
    target = positive.view(-1, *([1] * (g.dim() - 1))).expand_as(g)
    loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(0)
    acc = ((logits > 0) == (target > 0.5)).float().mean(0)
    return loss, acc


PADDINGS = ("same", "valid")


def _pad(kernel: int, padding: str) -> int:
    # "same" (our default; the paper does not say) keeps every layer at 28x28, so the label wave is
    # seen at every position; "valid" (no padding) shrinks each layer by kernel - 1 pixels.
    return kernel // 2 if padding == "same" else 0


def _conv_stack(filters: tuple[int, ...], kernel: int, padding: str = "same") -> nn.ModuleList:
    channels = (1, *filters)
    return nn.ModuleList(nn.Conv2d(channels[i], channels[i + 1], kernel, padding=_pad(kernel, padding))
                         for i in range(len(filters)))


def layer_shapes(filters: tuple[int, ...], max_pool: bool, size: int = 28, kernel: int = 1,
                 padding: str = "same") -> list[tuple[int, int, int]]:
    """(C, H, W) of each layer's activations; max pooling (App. C) halves H, W before the next conv,
    "valid" padding takes kernel - 1 off each conv's output. A size below 1 means the stack does not fit."""
    if padding not in PADDINGS:
        raise ValueError(f"unknown padding {padding!r}; allowed: {', '.join(PADDINGS)}")
    shapes = []
    for i, c in enumerate(filters):
        if max_pool and i > 0:
            size //= 2
        size = size + 2 * _pad(kernel, padding) - (kernel - 1)
        shapes.append((c, size, size))
    return shapes


def forward_layers(convs: nn.ModuleList, x: torch.Tensor | None, max_pool: bool, networks: int = 0,
                   first: torch.Tensor | None = None,
                   each: Callable[[int, torch.Tensor], None] | None = None) -> list[torch.Tensor]:
    """The post-ReLU activations z_l of every conv layer (the data flow above).

    Layer l+1 receives layer l's output normalized, pooled if ``max_pool``, and detached.
    ``networks`` = R > 0: the convolutions are grouped over R networks (:class:`StackedFFCNN`),
    inputs are (N, R * C, H, W) and activations come out as (N, R, C, H, W). ``first`` replaces
    layer 1's pre-activation (goodness inference computes it once per image and label).
    ``each(l, z_l)``, if given, receives every layer's activations as soon as they exist, and they
    are not kept (layer-wise training runs the layer's backward pass there): the list is empty.
    """
    zs, h = [], x
    for i, conv in enumerate(convs):
        z = F.relu(first if (i == 0 and first is not None) else conv(h))
        if networks:
            z = z.unflatten(1, (networks, -1))
        if each is None:
            zs.append(z)
        else:
            each(i, z)
        h = layer_norm(z.detach())
        del z  # with ``each``, layer l's output (and its graph) may go before layer l+1 runs
        if networks:
            h = h.flatten(1, 2)
        if max_pool:
            h = F.max_pool2d(h, 2)
    return zs


# Where a pooled network is read (App. C does not say; issue #26): "conv", each convolution's own
# output (our default, and all we did before), or "pooled", the 2x2-pooled map the next layer
# receives. The last layer has no pooling after it, so it is read as its convolution's output
# either way; in a network without pooling both readings are the same.
MAP_READINGS = ("conv", "pooled")


def pool2(z: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling of (..., C, H, W) activations (one network or R stacked ones), as between layers."""
    return F.max_pool2d(z.flatten(0, -4), 2).unflatten(0, z.shape[:-3])


def read_map(z: torch.Tensor, layer: int, n_layers: int, max_pool: bool, reading: str = "conv") -> torch.Tensor:
    """Layer ``layer``'s (0-based) activations as goodness or the classifier read them: ``z`` itself,
    or, for ``reading="pooled"`` in a pooled network, its 2x2 max pooling wherever a pooling layer
    follows it (every layer but the last). Max pooling commutes with the layer norm's positive
    per-sample scale, so pooling ``z`` before or after normalizing it picks the same neurons."""
    if reading not in MAP_READINGS:
        raise ValueError(f"unknown map reading {reading!r}; allowed: {', '.join(MAP_READINGS)}")
    return pool2(z) if reading == "pooled" and max_pool and layer < n_layers - 1 else z


def read_shapes(shapes: list[tuple[int, int, int]], max_pool: bool, reading: str = "conv") -> list[tuple[int, int, int]]:
    """(C, H, W) of each layer's map as :func:`read_map` reads it (the pooled map halves H, W, floored)."""
    return [(c, h // 2, w // 2) if reading == "pooled" and max_pool and i < len(shapes) - 1 else (c, h, w)
            for i, (c, h, w) in enumerate(shapes)]


def classifier_input(zs: list[torch.Tensor], max_pool: bool = False, reading: str = "conv") -> torch.Tensor:
    """Normalized activations of layers 2..N, flattened and concatenated (Sec. 2.3), detached:
    (N, F) for one network, (N, R, F) for R stacked ones. ``reading="pooled"`` (a pooled network):
    each layer that a pooling layer follows is read as the normalized, pooled map the next layer
    receives (:func:`read_map`)."""
    return torch.cat([read_map(layer_norm(z.detach()), i, len(zs), max_pool, reading).flatten(-3)
                      for i, z in enumerate(zs) if i > 0], dim=-1)


class _Readings:
    """Goodness and classifier readings shared by :class:`FFCNN` and :class:`StackedFFCNN`."""

    max_pool: bool
    goodness_maps: str
    classifier_maps: str
    convs: nn.ModuleList

    def layer_goodness(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Goodness of layer ``layer`` (0-based) from its activations ``z``, on the map
        ``goodness_maps`` names; its threshold is ``thresholds[layer]``."""
        return goodness(read_map(z, layer, len(self.convs), self.max_pool, self.goodness_maps))

    def features(self, zs: list[torch.Tensor]) -> torch.Tensor:
        """The linear classifier's input from every layer's activations (:func:`classifier_input`),
        on the maps ``classifier_maps`` names."""
        return classifier_input(zs, self.max_pool, self.classifier_maps)


INITS = ("torch", "loewe", "fanin")


class FFCNN(_Readings, nn.Module):
    """Convolutional layers trained with Forward-Forward, plus the linear classifier (Sec. 2.2, 2.3).

    ``FFCNN()`` is the network ``Config().network()`` builds: the paper's best (Sec. 3.1) with the
    project's choices where the paper is silent. :meth:`ff_loss` is the method's loss; a training
    loop that reads top to bottom is :func:`ffcnn_lib.reference.train_reference`.

    Two settings the paper does not state, taken from the FF code it started from (Loewe, 2023) as
    alternatives to our defaults: ``input_norm`` divides each input image (label included) by its
    RMS before layer 1, as that code does; ``init="loewe"`` draws conv weights from N(0, 1/C_out)
    with zero biases. ``init="fanin"`` (the default) scales the same normal by the conv's fan-in,
    N(0, 1/(C_in k^2)): Loewe's ignores the k^2 taps of a convolution's fan-in, so its goodness
    starts many times above θ, and on 200-epoch validation runs the fan-in normal tied PyTorch's
    with the linear classifier, above Loewe's, and kept far more of goodness inference
    (book/14_open_choices.ipynb, section 2). ``"torch"`` is PyTorch's default (the BP baseline's).
    Layer 1 is never trained, so its init decides the fixed filter bank every later layer sees.
    ``goodness_maps`` and ``classifier_maps`` ("conv" or "pooled", :data:`MAP_READINGS`) say where a
    pooled network's goodness (with its threshold) and its linear classifier read each layer.
    """

    def __init__(self, filters: tuple[int, ...] = (128, 128, 128), kernel: int = 7, max_pool: bool = False,
                 padding: str = "same", input_norm: bool = False, init: str = "fanin",
                 goodness_maps: str = "conv", classifier_maps: str = "conv"):
        super().__init__()
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
        for name, reading in (("goodness_maps", goodness_maps), ("classifier_maps", classifier_maps)):
            if reading not in MAP_READINGS:
                raise ValueError(f"unknown {name} {reading!r}; allowed: {', '.join(MAP_READINGS)}")
        self.goodness_maps, self.classifier_maps = goodness_maps, classifier_maps
        self.filters, self.kernel, self.max_pool, self.padding = tuple(filters), kernel, max_pool, padding
        self.input_norm, self.init = input_norm, init
        self.convs = _conv_stack(self.filters, kernel, padding)
        if init in ("loewe", "fanin"):
            for conv in self.convs:
                # Loewe's N(0, 1/C_out) comes from fully-connected code and ignores the k^2 taps of a
                # conv's fan-in; "fanin" scales by the fan-in C_in k^2 (issue #16 tests both).
                fan = conv.out_channels if init == "loewe" else conv.in_channels * kernel ** 2
                nn.init.normal_(conv.weight, 0.0, 1 / math.sqrt(fan))
                nn.init.zeros_(conv.bias)
        self.shapes = layer_shapes(self.filters, max_pool, kernel=kernel, padding=padding)
        # θ = number of neurons of the map goodness reads
        self.thresholds = [float(math.prod(s)) for s in read_shapes(self.shapes, max_pool, goodness_maps)]
        self.classifier_shapes = read_shapes(self.shapes, max_pool, classifier_maps)[1:]  # layers 2..N as read
        # Zero init as Loewe (2023): the classifier starts with no preference.
        self.classifier = nn.Linear(sum(math.prod(s) for s in self.classifier_shapes), N_CLASSES, bias=False)
        nn.init.zeros_(self.classifier.weight)

    def activations(self, x: torch.Tensor | None, first: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Post-ReLU activations z_l of every layer for input images x (N, 1, H, W); ``first``
        replaces layer 1's pre-activation (see :func:`forward_layers`)."""
        if self.input_norm and x is not None:
            x = layer_norm(x)
        return forward_layers(self.convs, x, self.max_pool, first=first)

    def ff_loss(self, x: torch.Tensor, labels: torch.Tensor, wrong_labels: torch.Tensor, encoder: LabelEncoder,
                include_first_layer: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss of one FF training step on images x (B, 1, H, W) (Sec. 2.2, 2.3), and its metrics.

        Positive data: each image with its label ``labels`` (B,); negative data: with ``wrong_labels``
        (B,), both superimposed by ``encoder`` (Sec. 2.1). The loss is the network FF loss, the sum of
        the layer losses of layers 2..N (layer 1 too with ``include_first_layer``, App. B), plus the
        linear classifier's cross-entropy on the label-free image. No gradient crosses layers or
        reaches the convolutions from the classifier, so one ``backward`` trains each layer on its own
        loss. ``stats`` maps metric names (those of a run's history) to detached scalars.
        """
        b = x.shape[0]
        posneg = torch.cat([encoder.overlay(x, labels), encoder.overlay(x, wrong_labels)])  # (2B, 1, H, W)
        positive = torch.cat([x.new_ones(b), x.new_zeros(b)])                               # (2B,): 1 positive, 0 negative
        zs = self.activations(posneg)                                                       # zs[l]: (2B, C_l, H_l, W_l)
        losses, accs = zip(*(ff_layer_loss(self.layer_goodness(i, z), self.thresholds[i], positive)
                             for i, z in enumerate(zs)))                                    # each ()
        net_loss = torch.stack(losses[0 if include_first_layer else 1:]).sum()             # ()
        with torch.no_grad():  # the classifier's input is detached anyway: no graph to keep
            zs = self.activations(encoder.for_classifier(x))                                # zs[l]: (B, C_l, H_l, W_l)
        logits = self.classifier(self.features(zs)).float()                                 # (B, 10)
        cls_loss = F.cross_entropy(logits, labels)                                          # ()
        stats = {**{f"loss_layer{i + 1}": loss.detach() for i, loss in enumerate(losses)},
                 **{f"disc_acc_layer{i + 1}": acc for i, acc in enumerate(accs)},
                 "combined_loss": net_loss.detach(), "classifier_loss": cls_loss.detach(),
                 "train_acc": (logits.argmax(1) == labels).float().mean()}
        return net_loss + cls_loss, stats


class BPCNN(nn.Module):
    """The backprop baseline: the same conv stack with a linear head, trained end to end (Sec. 3.1)."""

    def __init__(self, filters: tuple[int, ...] = (16, 16, 16), kernel: int = 5, max_pool: bool = False,
                 padding: str = "same"):
        super().__init__()
        self.max_pool = max_pool
        self.convs = _conv_stack(tuple(filters), kernel, padding)
        c, h, w = layer_shapes(tuple(filters), max_pool, kernel=kernel, padding=padding)[-1]
        self.head = nn.Linear(c * h * w, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for i, conv in enumerate(self.convs):
            if self.max_pool and i > 0:
                h = F.max_pool2d(h, 2)
            h = F.relu(conv(h))
        return self.head(h.flatten(1))


class StackedFFCNN(_Readings, nn.Module):
    """R independent FF-CNNs of one shape trained in one pass (batched multi-run training).

    Layer l of all networks is one grouped convolution (``groups=R``): network r sees only its own
    input channels, so the networks stay independent, and as Adam works element by element,
    training the stack equals training each network alone (up to floating-point rounding). The
    networks may differ in seed and label intensity K. Activations are (N, R, C, H, W).
    """

    def __init__(self, models: list[FFCNN], encoders: list[LabelEncoder]):
        super().__init__()
        m0 = models[0]
        shape = (m0.filters, m0.kernel, m0.max_pool, m0.padding, m0.input_norm, m0.goodness_maps, m0.classifier_maps)
        if any((m.filters, m.kernel, m.max_pool, m.padding, m.input_norm, m.goodness_maps, m.classifier_maps) != shape
               for m in models):
            raise ValueError("stacked networks must share filters, kernel size, pooling, padding and input norm, "
                             "and the maps goodness and the classifier read")
        (self.R, self.filters, self.kernel, self.max_pool, self.padding, self.input_norm, self.goodness_maps,
         self.classifier_maps) = len(models), *shape
        self.shapes, self.thresholds = m0.shapes, m0.thresholds
        self.convs = nn.ModuleList()
        for i, conv in enumerate(m0.convs):
            g = nn.Conv2d(self.R * conv.in_channels, self.R * conv.out_channels, self.kernel,
                          padding=conv.padding, groups=self.R)
            g.weight.data.copy_(torch.cat([m.convs[i].weight.data for m in models]))
            g.bias.data.copy_(torch.cat([m.convs[i].bias.data for m in models]))
            self.convs.append(g)
        self.classifier = nn.Parameter(torch.stack([m.classifier.weight.data for m in models]))  # (R, 10, F)
        self.register_buffer("keep", torch.stack([e.keep for e in encoders]).unsqueeze(1))   # (R, 1, H, W)
        self.register_buffer("patterns", torch.stack([e.patterns for e in encoders]))        # (R, 10, H, W)
        if len({e.classifier_input for e in encoders}) > 1:
            raise ValueError("stacked networks must share the classifier's input")
        self.classifier_input = encoders[0].classifier_input

    def overlay(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """x (N, R, 1, H, W) with label ``labels[n, r]`` on network r's copy (see LabelEncoder)."""
        r = torch.arange(self.R, device=labels.device)
        return x * self.keep + self.patterns[r, labels].unsqueeze(2)

    def for_classifier(self, x: torch.Tensor) -> torch.Tensor:
        """The linear classifier's input (x (N, R, 1, H, W)), as the networks' encoders say."""
        return classifier_view(x, self.keep, self.patterns, self.classifier_input)

    def activations(self, x: torch.Tensor, each: Callable[[int, torch.Tensor], None] | None = None
                    ) -> list[torch.Tensor]:
        """Activations (N, R, C, H, W) of every layer for inputs x (N, R, 1, H, W); ``each``: see
        :func:`forward_layers`."""
        if self.input_norm:
            x = layer_norm(x)  # each network's image on its own: over (1, H, W)
        return forward_layers(self.convs, x.flatten(1, 2), self.max_pool, networks=self.R, each=each)

    def logits(self, zs: list[torch.Tensor]) -> torch.Tensor:
        """Classifier outputs (N, R, 10) from layers 2..N, each network with its own classifier."""
        feats = self.features(zs)
        return torch.einsum("nrf,rkf->nrk", feats, self.classifier.to(feats.dtype))

    def unstack(self, into: list[FFCNN] | None = None) -> list[FFCNN]:
        """The R networks as separate :class:`FFCNN` modules (copies, on the same device).

        ``into``: modules of an earlier call to overwrite, so evaluating every epoch builds nothing.
        """
        out = into or [FFCNN(self.filters, self.kernel, self.max_pool, self.padding, self.input_norm,
                             goodness_maps=self.goodness_maps, classifier_maps=self.classifier_maps)
                       .to(self.classifier.device) for _ in range(self.R)]
        for r, m in enumerate(out):
            for conv, g in zip(m.convs, self.convs):
                rows = g.out_channels // self.R
                conv.weight.data.copy_(g.weight.data[r * rows:(r + 1) * rows])
                conv.bias.data.copy_(g.bias.data[r * rows:(r + 1) * rows])
            m.classifier.weight.data.copy_(self.classifier.data[r])
            m.eval()
        return out
