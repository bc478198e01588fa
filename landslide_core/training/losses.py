"""The thesis loss (section 5.1, eq. 2-4): L = (1 - alpha) * WCE + alpha * Dice.

WCE = -mean(beta * y * log p + (1 - y) * log(1 - p)): ``beta`` weights the landslide
(positive) pixels only. Dice = 1 - (2 * sum(p * y) + eps) / (sum(p) + sum(y) + eps), soft
(on probabilities), over all pixels of the batch. Models give logits z; log p and
log(1 - p) are computed as logsigmoid(z) and logsigmoid(-z) for numerical stability.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

DICE_EPS = 1e-6


@dataclass
class LossParts:
    """The combined loss and its two parts (tensors; ``total`` carries the gradient)."""

    total: torch.Tensor
    wce: torch.Tensor
    dice: torch.Tensor


@dataclass
class LossSums:
    """Sums over many pixels from which the loss of a whole set is computed exactly."""

    wce_sum: float = 0.0
    pixels: int = 0
    intersection: float = 0.0
    prob_sum: float = 0.0
    target_sum: float = 0.0

    def add(self, other: "LossSums") -> None:
        self.wce_sum += other.wce_sum
        self.pixels += other.pixels
        self.intersection += other.intersection
        self.prob_sum += other.prob_sum
        self.target_sum += other.target_sum

    def parts(self, alpha: float) -> tuple[float, float, float]:
        """(total, wce, dice) of everything added so far."""
        wce = self.wce_sum / max(self.pixels, 1)
        dice = 1.0 - (2.0 * self.intersection + DICE_EPS) / (self.prob_sum + self.target_sum + DICE_EPS)
        return (1.0 - alpha) * wce + alpha * dice, wce, dice


def wce_map(logits: torch.Tensor, target: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-pixel weighted cross-entropy -(beta * y * log p + (1 - y) * log(1 - p))."""
    target = target.to(logits.dtype)
    return -(beta * target * F.logsigmoid(logits) + (1.0 - target) * F.logsigmoid(-logits))


def wce_loss(logits: torch.Tensor, target: torch.Tensor, beta: float = 5.0) -> torch.Tensor:
    return wce_map(logits, target, beta).mean()


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = DICE_EPS) -> torch.Tensor:
    prob = torch.sigmoid(logits)
    target = target.to(prob.dtype)
    inter = (prob * target).sum()
    return 1.0 - (2.0 * inter + eps) / (prob.sum() + target.sum() + eps)


class WceDiceLoss(nn.Module):
    """(1 - alpha) * WCE(beta) + alpha * Dice, on 1-channel logits (N, 1, H, W)."""

    def __init__(self, alpha: float = 0.5, beta: float = 5.0, eps: float = DICE_EPS):
        super().__init__()
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], not {alpha}")
        self.alpha, self.beta, self.eps = float(alpha), float(beta), float(eps)

    def parts(self, logits: torch.Tensor, target: torch.Tensor) -> LossParts:
        wce = wce_loss(logits, target, self.beta)
        dice = dice_loss(logits, target, self.eps)
        return LossParts((1.0 - self.alpha) * wce + self.alpha * dice, wce, dice)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.parts(logits, target).total

    @torch.no_grad()
    def sums(self, logits: torch.Tensor, target: torch.Tensor) -> LossSums:
        """The sums of one batch, to be added up over a whole validation or test set."""
        prob = torch.sigmoid(logits.float())
        target = target.float()
        return LossSums(
            wce_sum=float(wce_map(logits.float(), target, self.beta).sum(dtype=torch.float64)),
            pixels=int(target.numel()),
            intersection=float((prob * target).sum(dtype=torch.float64)),
            prob_sum=float(prob.sum(dtype=torch.float64)),
            target_sum=float(target.sum(dtype=torch.float64)),
        )
