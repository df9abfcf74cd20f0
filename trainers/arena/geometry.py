"""The tile grid: walkability, line of sight and path tables, computed once per map and cached.

Cells are integers `cell = x * height + y`. North is +y (rAthena's DIR_NORTH), east is +x. Distances are
Chebyshev (rAthena's `distance()` with `circular_area: no`, the default). Movement is 8-connected; a diagonal
step needs both orthogonal cells walkable (rAthena's path_search does not cut corners).

Per map, precomputed with numpy (a fraction of a second for the scenario maps, then cached per process):
- `steps[g, c]`: walking steps from cell c to goal g along the grid (32767 unreachable);
- `toward[g, c]`: the direction of the first step of a shortest path from c to g (-1: none); ties go to the
  neighbour nearest to g in a straight line, so paths look like rAthena's;
- `away[g, c]`: the direction that increases the walking distance from g the most (-1: cornered);
- `los[c, offset]`: line of sight from c to c + offset for offsets within LOS_RADIUS, by rAthena's
  path_search_long (a DDA walk that walls block; water does not);
- `open_space[c]`: walkable fraction of the 5x5 cells around c.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

FLOOR, WALL, WATER = 0, 1, 2
# Straight directions first: ties (argmax/argmin) prefer straight steps.
DX = np.array([0, 1, 0, -1, 1, 1, -1, -1], np.int32)
DY = np.array([1, 0, -1, 0, 1, -1, -1, 1], np.int32)
DIAGONAL = np.array([False] * 4 + [True] * 4)
LOS_RADIUS = 20  # beyond the view range (14) and the chase ranges; farther pairs have no line of sight
LOS_SIDE = 2 * LOS_RADIUS + 1
UNREACHABLE = np.int16(32767)


def box_mean(grid: np.ndarray, radius: int, pad_value: float) -> np.ndarray:
    """Mean of each (2r+1)^2 window of a 2-D array, cells outside counting as pad_value."""
    size = 2 * radius + 1
    padded = np.pad(grid.astype(np.float64), radius, constant_values=pad_value)
    c = np.pad(padded.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    return (c[size:, size:] - c[:-size, size:] - c[size:, :-size] + c[:-size, :-size]) / size**2


def shoot_path(dx: int, dy: int) -> list[tuple[int, int]]:
    """Cells (relative to the source) that rAthena's path_search_long checks for a shot to (dx, dy).

    The walk always goes from the endpoint with the lower x (so the cell set is symmetric) and checks
    every cell it visits, both endpoints included.
    """
    if dx < 0:  # swap the endpoints, as path_search_long does
        x0, y0, x1, y1 = dx, dy, 0, 0
    else:
        x0, y0, x1, y1 = 0, 0, dx, dy
    ddx, ddy = x1 - x0, y1 - y0
    weight = ddx if ddx > abs(ddy) else abs(ddy)
    cells = [(x1, y1)]
    wx = wy = 0
    while (x0, y0) != (x1, y1):
        cells.append((x0, y0))
        wx += ddx
        wy += ddy
        if wx >= weight:
            wx -= weight
            x0 += 1
        if wy >= weight:
            wy -= weight
            y0 += 1
        elif wy < 0:
            wy += weight
            y0 -= 1
    return cells


@dataclass
class GridMap:
    """One map's grid and its precomputed tables (see the module docstring)."""

    grid: np.ndarray  # uint8[W, H]: FLOOR, WALL or WATER
    width: int = field(init=False)
    height: int = field(init=False)

    def __post_init__(self) -> None:
        self.width, self.height = (int(v) for v in self.grid.shape)
        W, H = self.width, self.height
        self.cells = W * H
        self.walkable = self.grid == FLOOR
        self.walk_flat = self.walkable.ravel()
        self.sight_blocked = self.grid == WALL
        self.open_space = box_mean(self.walkable, 2, 0.0).ravel().astype(np.float32)
        xs, ys = np.meshgrid(np.arange(W), np.arange(H), indexing="ij")
        self.cell_x = xs.ravel().astype(np.int32)
        self.cell_y = ys.ravel().astype(np.int32)
        self._directions()
        self._paths()
        self._sight()

    # -- neighbours -------------------------------------------------------------------------------
    def walkable_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Walkability of (x, y); cells outside the map are not walkable."""
        inside = (x >= 0) & (x < self.width) & (y >= 0) & (y < self.height)
        cell = np.clip(x, 0, self.width - 1) * self.height + np.clip(y, 0, self.height - 1)
        return inside & self.walk_flat[cell]

    def _directions(self) -> None:
        x, y = self.cell_x, self.cell_y
        allowed = np.zeros((self.cells, 8), bool)
        for d in range(8):
            ok = self.walk_flat & self.walkable_at(x + DX[d], y + DY[d])
            if DIAGONAL[d]:
                ok &= self.walkable_at(x + DX[d], y) & self.walkable_at(x, y + DY[d])
            allowed[:, d] = ok
        self.allowed = allowed  # bool[C, 8]: a step from c in direction d is legal
        self.step_offset = (DX * self.height + DY).astype(np.int32)  # cell delta of each direction
        # neighbour cell per direction; where not allowed, the cell itself (a no-op step)
        self.neighbour = np.where(allowed, np.arange(self.cells)[:, None] + self.step_offset[None],
                                  np.arange(self.cells)[:, None]).astype(np.int32)

    # -- walking distances and step tables ----------------------------------------------------------
    def _paths(self) -> None:
        W, H, C = self.width, self.height, self.cells
        goals = np.flatnonzero(self.walk_flat)
        G = len(goals)
        steps = np.full((G, W, H), UNREACHABLE, np.int16)
        reached = np.zeros((G, W + 2, H + 2), bool)
        gx, gy = self.cell_x[goals], self.cell_y[goals]
        reached[np.arange(G), gx + 1, gy + 1] = True
        steps[np.arange(G), gx, gy] = 0
        frontier = reached.copy()
        # allowed[:, d] for the cell that steps into the frontier: c -> c + d is legal
        allowed_grid = [self.allowed[:, d].reshape(W, H) for d in range(8)]
        inner = (slice(None), slice(1, W + 1), slice(1, H + 1))
        k = 0
        while True:
            k += 1
            new = np.zeros((G, W, H), bool)
            for d in range(8):
                shifted = frontier[:, 1 + DX[d]:1 + DX[d] + W, 1 + DY[d]:1 + DY[d] + H]
                new |= shifted & allowed_grid[d]
            new &= ~reached[inner]
            if not new.any():
                break
            steps[new] = k
            reached[inner] |= new
            frontier[inner] = new
        full = np.full((C, C), UNREACHABLE, np.int16)
        full[goals] = steps.reshape(G, C)
        self.steps = full  # int16[goal, cell]

        # toward: among legal steps that lower the distance by one, the one nearest the goal in a line;
        # int16 throughout (walking distances and squared lines stay below 32767 on maps up to 64 x 64)
        goal_x, goal_y = self.cell_x[:, None].astype(np.int16), self.cell_y[:, None].astype(np.int16)
        here = full
        reachable = here < UNREACHABLE
        best_dir = np.full((C, C), -1, np.int8)
        best_line = np.full((C, C), np.iinfo(np.int16).max, np.int16)
        far_dir = np.full((C, C), -1, np.int8)
        far_steps = here.copy()
        far_line = np.full((C, C), -1, np.int16)
        for d in range(8):
            n = self.neighbour[:, d]
            there = full[:, n]
            nx, ny = self.cell_x[n][None].astype(np.int16), self.cell_y[n][None].astype(np.int16)
            line = (nx - goal_x) ** 2 + (ny - goal_y) ** 2
            legal = reachable & self.allowed[None, :, d]
            better = legal & (there == here - 1) & (line < best_line)
            best_dir[better] = d
            best_line[better] = line[better]
            # away: strictly farther by walking; ties broken by the straight-line distance
            farther = legal & (there > here) & ((there > far_steps) | ((there == far_steps) & (line > far_line)))
            far_dir[farther] = d
            far_steps[farther] = there[farther]
            far_line[farther] = line[farther]
        self.toward = best_dir  # int8[goal, cell]
        self.away = far_dir  # int8[threat, cell]
        self._toward_flat, self._away_flat, self._steps_flat = best_dir.ravel(), far_dir.ravel(), full.ravel()

    # -- flat lookups (faster than 2-D fancy indexing) ----------------------------------------------
    def toward_dir(self, goal: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """toward[goal, cell] for index arrays of the same shape."""
        return self._toward_flat[goal * self.cells + cell]

    def away_dir(self, threat: np.ndarray, cell: np.ndarray) -> np.ndarray:
        return self._away_flat[threat * self.cells + cell]

    def steps_between(self, goal: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Walking steps as int32 (UNREACHABLE where no path)."""
        return self._steps_flat[goal * self.cells + cell].astype(np.int32)

    # -- line of sight ------------------------------------------------------------------------------
    def _sight(self) -> None:
        W, H, R = self.width, self.height, LOS_RADIUS
        blocked = np.pad(self.sight_blocked, R, constant_values=True)
        los = np.zeros((W, H, LOS_SIDE * LOS_SIDE), bool)
        for dx in range(-R, R + 1):
            for dy in range(-R, R + 1):
                ok = np.ones((W, H), bool)
                for rx, ry in shoot_path(dx, dy):
                    ok &= ~blocked[R + rx:R + rx + W, R + ry:R + ry + H]
                los[:, :, (dx + R) * LOS_SIDE + dy + R] = ok
        self.los = los.reshape(self.cells, LOS_SIDE * LOS_SIDE)
        self._los_flat = self.los.ravel()

    def line_of_sight(self, cell: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """LOS from `cell` to `cell + (dx, dy)` (arrays broadcast); False beyond LOS_RADIUS."""
        R = LOS_RADIUS
        near = (np.abs(dx) <= R) & (np.abs(dy) <= R)
        offset = (np.clip(dx, -R, R) + R) * LOS_SIDE + np.clip(dy, -R, R) + R
        return near & self._los_flat[cell * (LOS_SIDE * LOS_SIDE) + offset]


_CACHE: dict[str, GridMap] = {}


def grid_map(grid: np.ndarray) -> GridMap:
    """The GridMap of a grid, cached per process by content (the tables take a fraction of a second)."""
    key = hashlib.sha1(np.ascontiguousarray(grid, np.uint8).tobytes() + str(grid.shape).encode()).hexdigest()
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = GridMap(np.ascontiguousarray(grid, np.uint8))
    return found
