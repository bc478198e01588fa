"""Landslide-class metrics from pixel counts summed over a whole set (threshold 0.5).

Precision, recall, F1 and IoU are computed once from the summed counts, never averaged
over batches. A ratio whose denominator is 0 is reported as 0.0.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

THRESHOLD = 0.5


@dataclass
class PixelCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, other: "PixelCounts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    def scores(self) -> dict[str, float]:
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "iou": self.iou}


def _ratio(num: int, den: int) -> float:
    return float(num) / den if den else 0.0


@torch.no_grad()
def pixel_counts(logits: torch.Tensor, target: torch.Tensor, threshold: float = THRESHOLD) -> PixelCounts:
    """Counts of the landslide class: prediction = sigmoid(logits) >= threshold."""
    pred = torch.sigmoid(logits.float()) >= threshold
    truth = target >= 0.5
    tp = int((pred & truth).sum())
    fp = int((pred & ~truth).sum())
    fn = int((~pred & truth).sum())
    return PixelCounts(tp, fp, fn, int(truth.numel()) - tp - fp - fn)
