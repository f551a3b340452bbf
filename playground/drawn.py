"""Data drawn by hand on the toy plane: a board of (x1, x2, label) points that a pen adds to and erases from.

A board is the tuple `DataSpec.points` holds (dataset `points`), so it travels in the experiment file, the
share link and the exported script. Coordinates are rounded to two decimals: a link stays short and a
point's place is still finer than a pixel of the map.
"""
from __future__ import annotations

import math

import numpy as np

from .data import MAX_DRAWN_POINTS
from .data.toy import PLANE_HALF_WIDTH

Board = tuple[tuple[float, float, float], ...]
ERASE_RADIUS = 0.6     # plane units: about a point's marker and a half on the Playground's map


def add_point(board: Board, x1: float, x2: float, label: float) -> Board:
    """`board` with a point at (x1, x2); unchanged if the board is full or the place is off the plane."""
    if len(board) >= MAX_DRAWN_POINTS or max(abs(x1), abs(x2)) > PLANE_HALF_WIDTH:
        return board
    return (*board, (round(x1, 2), round(x2, 2), label))


def erase_near(board: Board, x1: float, x2: float, radius: float = ERASE_RADIUS) -> Board:
    """`board` without its point nearest (x1, x2), if one lies within `radius`."""
    if not board:
        return board
    distances = [math.hypot(p[0] - x1, p[1] - x2) for p in board]
    nearest = int(np.argmin(distances))
    return board if distances[nearest] > radius else board[:nearest] + board[nearest + 1:]


def board_of(points: np.ndarray, labels: np.ndarray) -> Board:
    """A board holding a data set's (N, 2) points and their labels (at most MAX_DRAWN_POINTS, clipped to
    the plane): to start drawing from the set on screen."""
    clipped = np.clip(np.asarray(points, dtype=np.float64)[:MAX_DRAWN_POINTS], -PLANE_HALF_WIDTH, PLANE_HALF_WIDTH)
    values = [float(v) for v in np.asarray(labels)[:MAX_DRAWN_POINTS]]
    return tuple((round(float(a), 2), round(float(b), 2), int(v) if v.is_integer() else round(v, 3))
                 for (a, b), v in zip(clipped, values))
