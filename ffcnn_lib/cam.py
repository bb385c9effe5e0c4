"""Class activation maps of an FF-trained CNN (Sec. 3.3, Fig. 6 and 7).

The linear classifier connects every neuron (channel c, pixel h, w) of layers 2..N to the ten
outputs, so its weights already say how much each pixel's features vote for a label. The CAM of
label m in layer l is ``sum_c W_l[m, c, h, w] * A_l[c, h, w]`` with A_l the normalized activations
on the classifier's input (:meth:`~ffcnn_lib.labels.LabelEncoder.for_classifier`); summing a map over its pixels (and layers) gives exactly the classifier logit.
Positive values are beneficial to the prediction, negative deleterious.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .labels import LabelEncoder
from .model import FFCNN, layer_norm, read_map


@torch.no_grad()
def class_activation_maps(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor,
                          target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """CAMs of images ``x`` (N, 1, H, W) for label ``target`` (default: the predicted one).

    Returns ``{"layer2": (N, H, W), ..., "combined": (N, H, W)}``; maps of pooled layers are
    upsampled to the input size before they are combined, maps of "valid"-padded layers (smaller,
    centred on the image) padded with zeros.
    """
    if model.max_pool and model.padding == "valid":
        raise NotImplementedError("CAMs of networks with both max pooling and valid padding are not supported")
    zs = model.activations(encoder.for_classifier(x))
    # each layer as the classifier reads it: its own output, or its pooled map (``classifier_maps``)
    acts = [read_map(layer_norm(z), i, len(zs), model.max_pool, model.classifier_maps) for i, z in enumerate(zs) if i > 0]
    sizes = [math.prod(s) for s in model.classifier_shapes]
    weights = model.classifier.weight.split(sizes, dim=1)
    if target is None:
        target = model.classifier(torch.cat([a.flatten(1) for a in acts], 1)).argmax(1)
    maps: dict[str, torch.Tensor] = {}
    size = x.shape[-2:]
    combined = torch.zeros(x.shape[0], *size, device=x.device)
    for layer, (a, w, shape) in enumerate(zip(acts, weights, model.classifier_shapes), start=2):
        cam = (w.view(-1, *shape)[target] * a).sum(1)  # (N, h, w)
        maps[f"layer{layer}"] = cam
        if model.padding == "valid":
            # output pixel (i, j) of layer l sits over input pixel (i + m, j + m), m = l (kernel // 2)
            m = (size[0] - cam.shape[-2]) // 2
            cam = F.pad(cam, (m, m, m, m))
        elif cam.shape[-2:] != size:
            # spread the pooled pixel's vote over the pixels it covers, keeping the total
            cam = F.interpolate(cam.unsqueeze(1), size=size, mode="nearest").squeeze(1) * (cam[0].numel() / combined[0].numel())
        combined += cam
    maps["combined"] = combined
    maps["target"] = target
    return maps


@torch.no_grad()
def ink_share(model: FFCNN, encoder: LabelEncoder, x: torch.Tensor, y: torch.Tensor,
              ink: float = 0.5) -> list[dict]:
    """Do the CAMs point at the digit (Sec. 3.3)? For each map of input size (layers 2..N and their
    sum), the share of its beneficial (positive) and of its deleterious (negative) mass that lies
    on the digit's ink (pixels above ``ink``), averaged over the correctly classified images of
    ``x``, beside the share of the image the ink covers. A map blind to the digit would put on the
    ink about the share of the image it covers; one that follows the strokes, several times that."""
    maps = class_activation_maps(model, encoder, x)
    right = maps["target"] == y.to(maps["target"].device)
    on_ink = (x[:, 0] > ink)[right]
    area = on_ink.float().mean((1, 2)).mean().item()
    rows = []
    for name, cam in maps.items():
        if name == "target" or cam.shape[-2:] != x.shape[-2:]:
            continue
        cam = cam[right]
        row = {"map": name, "images": int(right.sum()), "ink_area": area}
        for part, mass in (("beneficial", cam.clamp(min=0)), ("deleterious", (-cam).clamp(min=0))):
            share = (mass * on_ink).sum((1, 2)) / mass.sum((1, 2)).clamp(min=1e-12)
            row[f"{part}_on_ink"] = share.mean().item()
        rows.append(row)
    return rows
