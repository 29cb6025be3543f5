"""A pool of recent faces per attribute and side, so that rare attributes get as many pairs as common ones.

ELEGANT pairs a batch's faces with attribute i against faces without it. With CelebA's frequencies a batch
of 64 holds about 2.5 moustaches and 4 pairs of glasses, so those attributes train on a fraction of the
pairs that smiling or male get (capped by ``max_pairs``), in the discriminators as in the generator; they
are also the ones that transfer worst. The pool remembers the latest ``capacity`` faces with and without
each attribute (first in, first out) and tops a step up to ``min_pairs`` pairs from it.

The pool is a module of buffers only (checkpointed with the recipe's networks, never exported, no DDP
wrapper); every rank keeps its own. Its contents depend only on the batches seen, so a resumed run
continues exactly.
"""

from __future__ import annotations

import torch
from torch import nn


def to_stored(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces in [-1, 1] and labels (> 0 = present) as kept in memory: uint8 pixels, int8 labels in {-1, 1}."""
    pixels = x.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels, torch.where(y > 0, 1, -1).to(torch.int8)


def from_stored(pixels: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The inverse of :func:`to_stored`: (images in [-1, 1], labels in {-1, 1}) as floats."""
    return pixels.float().div(127.5).sub(1), labels.float()


class PairPool(nn.Module):
    """Ring buffers of uint8 faces (and their labels) per (attribute, side): side 0 = with it, 1 = without."""

    def __init__(self, capacity: int, resolution: int, n_attrs: int):
        super().__init__()
        self.register_buffer("images", torch.zeros(n_attrs, 2, capacity, 3, resolution, resolution, dtype=torch.uint8))
        self.register_buffer("labels", torch.zeros(n_attrs, 2, capacity, n_attrs, dtype=torch.int8))
        self.register_buffer("count", torch.zeros(n_attrs, 2, dtype=torch.int64))  # faces ever added

    @property
    def capacity(self) -> int:
        return int(self.images.shape[2])

    def size(self, attribute: int, side: int) -> int:
        return int(min(int(self.count[attribute, side]), self.capacity))

    @torch.no_grad()
    def add(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Remember every face of the batch (x in [-1, 1], y > 0 = present) under each attribute's side."""
        pixels, labels = to_stored(x, y)
        cap = self.capacity
        for i in range(self.images.shape[0]):
            for side, rows in enumerate(sides(y, i)):
                rows = rows[-cap:]  # more than fit: only the last ones would survive anyway
                if not len(rows):
                    continue
                start = int(self.count[i, side])
                slots = (torch.arange(len(rows), device=rows.device) + start) % cap
                self.images[i, side, slots] = pixels[rows]
                self.labels[i, side, slots] = labels[rows]
                self.count[i, side] += len(rows)

    def take(self, attribute: int, side: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``n`` of the most recent faces of (attribute, side): (images in [-1, 1], labels in {-1, 1})."""
        size = self.size(attribute, side)
        n = min(n, size)
        if n <= 0:
            empty = self.images.new_zeros((0, *self.images.shape[3:]))
            return empty.float(), self.labels.new_zeros((0, self.labels.shape[-1])).float()
        end = int(self.count[attribute, side])
        slots = (torch.arange(end - n, end, device=self.images.device)) % self.capacity
        return from_stored(self.images[attribute, side, slots], self.labels[attribute, side, slots])


def sides(y: torch.Tensor, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row indices of the faces with attribute i (side 0) and without it (side 1)."""
    return torch.nonzero(y[:, i] > 0).flatten(), torch.nonzero(y[:, i] <= 0).flatten()


def top_up(
    pool: PairPool, x: torch.Tensor, y: torch.Tensor, i: int, want: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(A, B, y_A, y_B): up to ``want`` pairs for attribute i, every face of the batch on each side first, then
    the pool's most recent ones (taken before this batch is added, so no face meets itself)."""
    both = []
    for side, rows in enumerate(sides(y, i)):
        more_x, more_y = pool.take(i, side, want - len(rows))
        both.append((torch.cat([x[rows], more_x.to(x)]), torch.cat([y[rows], more_y.to(y)])))
    (a, ya), (b, yb) = both
    k = min(len(a), len(b), want)
    return a[:k], b[:k], ya[:k], yb[:k]
