"""MTCNN's P-Net over a pyramid level of any shape, in tiles of a few fixed shapes (LiteRT).

Pure arithmetic on numpy arrays around interpreters from lite.ShapePool: no TensorFlow.
"""
from __future__ import annotations

import numpy as np

CELL, STRIDE = 12, 2  # P-Net's window and stride, in pyramid-level pixels
#: A level shape seen for the first time (and any larger than the pool keeps) runs in
#: tiles of one of these sizes, whose interpreters are prepared once.
TILES = (32, 64, 96, 128, 160, 192, 224, 256)
#: A tile call's fixed cost in pixels of work, for choosing the tile size: a call costs about
#: 0.07 ms plus 4.6e-5 ms a pixel (AVX2 kernels), 1,500 px, plus Python's share; P-Net's time
#: on real photos measured the same with 1,500, 3,000 and 6,000 (benchmarks/pnet_tiles.py).
TILE_CALL_PIXELS = 3000


class PNetTiles:
    """P-Net's output for one pyramid level (H, W, 3) uint8 -> (h, w, 6), without preparing
    an interpreter for each new level shape. Preparing one costs about twice a run of that
    shape (XNNPACK builds its convolutions' indirection buffers: 4.6 ms for a 200x200 level,
    76 ms for 800x800, on AVX2 kernels), and photos of many sizes bring new shapes all the
    time: on 206 real photos preparing took as long as P-Net's work (1.6 s each).

    A level whose shape was seen before (a library of one camera's photos) runs on its own
    interpreter, kept in ``pool`` (lite.ShapePool) while the pool keeps its size. Any other runs
    in overlapping tiles of a few fixed sizes (TILES), each interpreter prepared once.
    P-Net is a 12 px window moved 2 px at a time, so tiles that start at even pixels and
    overlap by 10 px give every window whole, the same arithmetic as the level in one
    piece (the outputs are identical, bit for bit: tests/test_models.py). The one output
    a tile cannot give is a level's last column (row) when its width (height) is odd: that
    window hangs one pixel past the level, where the max pooling's "same" padding counts
    nothing; it is P-Net run on the level's last 11 columns (rows) alone, in tiles of that
    width, and on its last 11x11 pixels for the corner."""

    STRIP = 256  # the long side of an edge strip's tiles

    def __init__(self, pool):
        self._pool = pool
        self._seen: dict = {}  # level shapes seen once (bounded: cleared at 4x the pool's size)
        self._tiles = {t: pool.fixed((1, t, t, 3)) for t in TILES}
        self._right = pool.fixed((1, self.STRIP, CELL - 1, 3))
        self._bottom = pool.fixed((1, CELL - 1, self.STRIP, 3))
        self._corner = pool.fixed((1, CELL - 1, CELL - 1, 3))

    def __call__(self, level: np.ndarray) -> np.ndarray:
        h, w = level.shape[:2]
        shape = (1, h, w, 3)
        if self._pool.ready(shape) or (shape in self._seen and self._pool.keeps(shape)):
            return self._pool(level[None])[0]
        if len(self._seen) > 4 * self._pool.size:
            self._seen.clear()
        self._seen[shape] = True
        size = min(TILES, key=lambda t: len(_tile_starts(h, t)) * len(_tile_starts(w, t))
                   * (t * t + TILE_CALL_PIXELS))
        oh, ow = _pnet_length(h), _pnet_length(w)
        out = np.empty((oh, ow, 6), np.float32)
        edge = CELL - 1
        _cover(level, self._tiles[size], size, size, out, 0, 0)
        if w % 2:
            _cover(level[:, w - edge:], self._right, self.STRIP, edge, out, 0, ow - 1, edge_cols=True)
        if h % 2:
            _cover(level[h - edge:], self._bottom, edge, self.STRIP, out, oh - 1, 0, edge_rows=True)
        if w % 2 and h % 2:
            out[oh - 1, ow - 1] = _tile(self._corner, level[h - edge:, w - edge:], edge, edge)[0, 0]
        return out


def _pnet_length(n: int) -> int:
    """P-Net's output length along a side of ``n`` pixels (a "same" max pooling, then three
    valid 3x3 convolutions after the first): the whole windows, plus one when ``n`` is odd."""
    return -(-(n - 2) // 2) - 4


def _whole(n: int) -> int:
    """How many whole 12 px windows (every 2 px) fit along ``n`` pixels."""
    return (n - CELL) // STRIDE + 1


def _tile_starts(n: int, tile: int) -> list[int]:
    """Where tiles of ``tile`` px start along ``n`` px: even pixels, overlapping by 10 px
    (a window's length less its step), so every whole window lies in one tile."""
    if n <= tile:
        return [0]
    step = tile - (CELL - STRIDE)
    return [min(i * step, n - tile) // 2 * 2 for i in range(-(-(n - CELL + STRIDE) // step))]


def _tile(runner, piece: np.ndarray, tile_h: int, tile_w: int) -> np.ndarray:
    """P-Net on ``piece`` placed at the top left of a tile of the runner's shape."""
    padded = np.zeros((1, tile_h, tile_w, 3), np.uint8)
    padded[0, :piece.shape[0], :piece.shape[1]] = piece
    return runner(padded)[0]


def _cover(area: np.ndarray, runner, tile_h: int, tile_w: int, out: np.ndarray, oy: int, ox: int,
           edge_rows: bool = False, edge_cols: bool = False) -> None:
    """P-Net's whole windows over ``area``, in tiles, written to ``out`` from (oy, ox);
    ``edge_rows`` / ``edge_cols``: the area is exactly one tile high / wide and ends where
    the level does, so its padded last output row / column is the level's too."""
    h, w = area.shape[:2]
    for y in _tile_starts(h, tile_h):
        for x in _tile_starts(w, tile_w):
            piece = area[y:y + tile_h, x:x + tile_w]
            nh = _pnet_length(piece.shape[0]) if edge_rows else _whole(piece.shape[0])
            nw = _pnet_length(piece.shape[1]) if edge_cols else _whole(piece.shape[1])
            out[oy + y // 2:oy + y // 2 + nh, ox + x // 2:ox + x // 2 + nw] = \
                _tile(runner, piece, tile_h, tile_w)[:nh, :nw]
