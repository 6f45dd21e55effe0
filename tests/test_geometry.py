"""Axis convention and the Roi/Block value types."""
import pytest

from hpcfault.errors import HpcfaultError
from hpcfault.geometry import AXES, Block, Roi, check_shape3, parse_axes, to_engine_order


def test_parse_axes_forms():
    assert parse_axes("time,inline,xline") == AXES
    assert parse_axes("ixt") == ("inline", "xline", "time")
    assert parse_axes("IL, XL, Z") == ("inline", "xline", "time")
    for bad in ("tt x", "time,inline", "abc", "t,i,x,t"):
        with pytest.raises(HpcfaultError, match="name each of time, inline, xline once"):
            parse_axes(bad)


def test_engine_order_transpose():
    assert to_engine_order(("inline", "xline", "time")) == (2, 0, 1)
    assert to_engine_order(AXES) == (0, 1, 2)


def test_check_shape3_quotes_shape():
    assert check_shape3([4, 5, 6], "x") == (4, 5, 6)
    with pytest.raises(HpcfaultError, match=r"got shape \(4, 5\)"):
        check_shape3((4, 5), "x")
    with pytest.raises(HpcfaultError, match=r"got shape \(4, 0, 2\)"):
        check_shape3((4, 0, 2), "x")


def test_roi_arithmetic():
    a = Roi((0, 0, 0), (10, 10, 10))
    b = Roi((5, 8, -2), (10, 10, 4))
    assert a.intersect(b) == Roi((5, 8, 0), (5, 2, 2))
    assert a.contains(Roi((1, 1, 1), (9, 9, 9))) and not a.contains(b)
    assert b.end == (15, 18, 2) and a.size == 1000
    assert Roi((3, 4, 5), (1, 1, 1)).relative_to(Roi((1, 1, 1), (9, 9, 9))).offset == (2, 3, 4)
    assert a.slices == (slice(0, 10), slice(0, 10), slice(0, 10))
    with pytest.raises(ValueError):
        Roi((0,), (1, 2))


def test_block_id_depends_on_write_region_only():
    w = Roi((16, 0, 32), (16, 16, 16))
    b1 = Block(read=Roi((8, 0, 24), (32, 24, 32)), write=w)
    b2 = Block(read=Roi((0, 0, 0), (48, 48, 48)), write=w)
    assert b1.id == b2.id == "b16+16_0+16_32+16"
    assert b1 != b2
