"""Progress bars on stderr for the command line: one tqdm bar per stage of a long job."""
from __future__ import annotations

import sys
from typing import Mapping, Optional


class StageBars:
    """A ``progress(done, total, stage)`` callback drawing one bar per stage; a new stage closes
    the bars before it. ``units`` names the unit counted in a stage (default ``unit``)."""

    def __init__(self, unit: str = "step", units: Optional[Mapping[str, str]] = None, label_width: int = 0) -> None:
        self.unit, self.units, self.label_width = unit, dict(units or {}), label_width
        self.bars: dict = {}

    def __call__(self, done: int, total: int, stage: str) -> None:
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            self.close()
            bar = self.bars[stage] = tqdm(total=total, desc=f"{stage:<{self.label_width}}" if self.label_width else stage,
                                          unit=self.units.get(stage, self.unit), file=sys.stderr, leave=True,
                                          dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars = {}
