"""Pictures from tensors: the scatter plot of 2-D points, and points painted on any picture."""

from __future__ import annotations

import numpy as np

from studio.imaging import (
    GENERATED_POINTS,
    REAL_POINTS,
    SCATTER_BACKGROUND,
    paint_points,
    pixel_coordinates,
    scatter,
)


def _painted(picture: np.ndarray) -> np.ndarray:
    """Where a picture differs from the empty background: rows, cols."""
    return np.argwhere((picture != SCATTER_BACKGROUND).any(axis=-1))


def test_an_empty_scatter_is_the_background():
    picture = scatter(np.zeros((0, 2)), size=64)
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
    assert len(_painted(picture)) == 0


def test_a_point_is_a_small_disc_where_its_coordinates_say_with_y_up():
    picture = scatter(np.array([[1.5, 1.5]]), size=120, extent=3.0)
    painted = _painted(picture)
    rows, cols = painted[:, 0], painted[:, 1]
    # x = 1.5 of [-3, 3] is 3/4 of the way right; y = 1.5 is 1/4 of the way down.
    assert abs(cols.mean() - 90) < 1 and abs(rows.mean() - 30) < 1
    assert 4 <= len(painted) <= 25  # a disc of ~1.4 px radius, anti-aliased
    centre = picture[30, 90].astype(int)
    assert np.abs(centre - GENERATED_POINTS[0]).sum() < np.abs(centre - SCATTER_BACKGROUND).sum()


def test_points_outside_the_square_or_not_finite_are_left_out():
    points = np.array([[10.0, 0.0], [0.0, -10.0], [np.nan, 0.0], [np.inf, np.inf]])
    assert len(_painted(scatter(points, size=64))) == 0


def test_more_points_on_one_spot_paint_it_more_opaquely_in_any_order():
    one = scatter(np.zeros((1, 2)), size=64)[32, 32].astype(int)
    five = scatter(np.zeros((5, 2)), size=64)[32, 32].astype(int)
    colour = np.array(GENERATED_POINTS[0])
    assert np.abs(five - colour).sum() < np.abs(one - colour).sum()
    assert np.abs(five - colour).max() <= 2  # 1 - 0.2^5: all but opaque
    rng = np.random.default_rng(0)
    cloud = rng.standard_normal((300, 2))
    assert np.array_equal(scatter(cloud, size=96), scatter(cloud[::-1], size=96))


def test_real_points_lie_under_the_generated_ones():
    origin, nothing = np.zeros((1, 2)), np.zeros((0, 2))
    real_only = scatter(nothing, real=origin, size=64)[32, 32].astype(float)
    both = scatter(origin, real=origin, size=64)[32, 32].astype(float)
    (real, real_opacity), (generated, opacity) = REAL_POINTS, GENERATED_POINTS
    background = np.array(SCATTER_BACKGROUND, float)
    # The pixel next to the point is wholly covered: each layer blends over what is below it.
    assert np.abs(real_only - (background + real_opacity * (real - background))).max() <= 1
    assert np.abs(both - (real_only + opacity * (generated - real_only))).max() <= 1


def test_the_square_spans_the_picture_edge_to_edge_with_y_up():
    corners = np.array([[-2.0, 2.0], [2.0, -2.0], [0.0, 0.0]])
    assert pixel_coordinates(corners, 2.0, 100).tolist() == [[0, 0], [100, 100], [50, 50]]


def test_points_are_painted_over_any_picture_and_a_larger_radius_covers_more():
    rng = np.random.default_rng(1)
    below = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
    small, large = below.copy(), below.copy()
    centre = np.zeros((1, 2))
    paint_points(small, centre, extent=1.0, colour=(255, 255, 255), opacity=1.0)
    paint_points(large, centre, extent=1.0, colour=(255, 255, 255), opacity=1.0, radius=3.0)
    changed_small, changed_large = (small != below).any(-1), (large != below).any(-1)
    assert changed_small[40, 40] and (small[39:41, 39:41] == 255).all()
    assert changed_small.sum() < changed_large.sum() <= 7 * 7
    assert (changed_small <= changed_large).all()
    far = np.ones((80, 80), bool)
    far[34:47, 34:47] = False
    assert np.array_equal(large[far], below[far])  # nothing beyond the disc is touched
