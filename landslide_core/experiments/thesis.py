"""The thesis's experiment grid (section 5.3, Tables 5-7): what it trained and what it scored.

Four U-Net variants (Table 5, "Models used for Unet encoders") x two band sets (14 bands, and
the 6 bands of 10 m origin: B2, B3, B4, B8, slope, elevation) x two datasets (L4S alone,
Table 6; L4S + L4S-PE, Table 7), min-max normalisation to 0-1, WCE-Dice loss (beta 5),
Adam 1e-3, StepLR(30, 0.1), early stopping after 10 epochs, batches of 16, 80/20 split.

The architectures map to the zoo by the thesis's parameter counts (14 bands):

=================  ======================  ===================  =============
thesis (Table 5)   zoo                     thesis parameters    zoo parameters
=================  ======================  ===================  =============
Unet (Vanilla)     ``unet_vanilla``        ~23.4 M              31.0 M
Resnet34           ``unet_resnet34``       ~24.4 M              24.5 M
MobilenetV2        ``unet_mobilenet_v2``   ~6.6 M               6.6 M
Segformer          ``unet_mit_b1``         ~16.4 M              16.5 M
=================  ======================  ===================  =============

"Segformer" in Table 5 is a U-Net *encoder*: a U-Net on SegFormer's Mix Transformer B1 has
16.5 M parameters, the thesis's figure, where the SegFormer network (``segformer_mit_b0``,
3.7 M; B1 13.7 M) has not. The vanilla U-Net is the classic 64..1024-channel one with
transposed-convolution upsampling (31.0 M); the thesis's 23.4 M is not reproduced exactly by
any common variant.
"""
from __future__ import annotations

#: thesis architecture name -> zoo architecture, in the thesis's row order
ARCHITECTURES: dict[str, str] = {
    "Unet (Vanilla)": "unet_vanilla",
    "Resnet34": "unet_resnet34",
    "MobilenetV2": "unet_mobilenet_v2",
    "Segformer": "unet_mit_b1",
}
#: thesis band label -> band set, in the thesis's row order
BAND_SETS: dict[str, str] = {"6 bands": "thesis6", "14 bands": "l4s14"}
#: dataset key -> (label, thesis table)
DATASETS: dict[str, tuple[str, str]] = {"l4s": ("L4S", "Table 6"), "l4s+l4spe": ("L4S + L4S-PE", "Table 7")}
METRICS = ("f1", "precision", "recall", "iou", "dice_wce", "wce", "dice")
METRIC_TITLES = {"f1": "F1-score", "precision": "Precision", "recall": "Recall", "iou": "IoU",
                 "dice_wce": "Dice-WCE", "wce": "WCE", "dice": "Dice"}

_T6 = {
    ("6 bands", "Unet (Vanilla)"): (0.747, 0.761, 0.739, 0.600, 0.223, 0.159, 0.287),
    ("6 bands", "Resnet34"): (0.731, 0.784, 0.691, 0.581, 0.238, 0.177, 0.298),
    ("6 bands", "MobilenetV2"): (0.718, 0.687, 0.758, 0.565, 0.256, 0.202, 0.309),
    ("6 bands", "Segformer"): (0.702, 0.750, 0.672, 0.546, 0.261, 0.196, 0.326),
    ("14 bands", "Unet (Vanilla)"): (0.755, 0.781, 0.735, 0.611, 0.215, 0.157, 0.273),
    ("14 bands", "Resnet34"): (0.734, 0.785, 0.695, 0.585, 0.233, 0.174, 0.292),
    ("14 bands", "MobilenetV2"): (0.723, 0.735, 0.716, 0.571, 0.246, 0.184, 0.308),
    ("14 bands", "Segformer"): (0.714, 0.743, 0.694, 0.559, 0.259, 0.208, 0.310),
}
_T7 = {
    ("6 bands", "Unet (Vanilla)"): (0.714, 0.749, 0.687, 0.559, 0.256, 0.191, 0.321),
    ("6 bands", "Resnet34"): (0.695, 0.742, 0.659, 0.537, 0.278, 0.223, 0.333),
    ("6 bands", "MobilenetV2"): (0.688, 0.751, 0.640, 0.528, 0.286, 0.237, 0.335),
    ("6 bands", "Segformer"): (0.669, 0.712, 0.639, 0.507, 0.299, 0.245, 0.353),
    ("14 bands", "Unet (Vanilla)"): (0.719, 0.744, 0.701, 0.566, 0.251, 0.186, 0.317),
    ("14 bands", "Resnet34"): (0.705, 0.737, 0.681, 0.548, 0.265, 0.202, 0.327),
    ("14 bands", "MobilenetV2"): (0.693, 0.747, 0.654, 0.535, 0.277, 0.216, 0.339),
    ("14 bands", "Segformer"): (0.681, 0.727, 0.648, 0.521, 0.288, 0.230, 0.347),
}
#: dataset key -> {(bands label, architecture): {metric: value}} (Tables 6 and 7)
THESIS_FIGURES: dict[str, dict[tuple[str, str], dict[str, float]]] = {
    key: {k: dict(zip(METRICS, v)) for k, v in table.items()} for key, table in (("l4s", _T6), ("l4s+l4spe", _T7))
}
#: The thesis's training recipe (section 5.3.3), as TrainConfig settings.
RECIPE = {"epochs": 100, "batch_size": 16, "lr": 1e-3, "alpha": 0.5, "beta": 5.0, "step_size": 30, "gamma": 0.1,
          "patience": 10, "val_share": 0.2, "scaling": "minmax"}
