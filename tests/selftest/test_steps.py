"""A session step's five fields come from five octets."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from strategies.commands import STEP_RANGES, Step, step_from_octets


def test_zero_octets_give_plain_step() -> None:
    assert step_from_octets(bytes(5)) == Step(0, 0, 0, 0, 0)


def test_top_octets_give_largest_fields() -> None:
    largest = Step(*(size - 1 for size in STEP_RANGES))
    assert step_from_octets(b"\xff" * 5) == largest


@given(st.binary(min_size=5, max_size=5))
def test_smaller_octet_never_gives_larger_field(octets: bytes) -> None:
    step = step_from_octets(octets)
    for index, octet in enumerate(octets):
        if octet == 0:
            continue
        smaller = bytearray(octets)
        smaller[index] = octet - 1
        assert step_from_octets(bytes(smaller))[index] <= step[index]


def test_every_field_value_is_reachable() -> None:
    for index, size in enumerate(STEP_RANGES):
        values = set()
        for octet in range(256):
            octets = bytearray(5)
            octets[index] = octet
            values.add(step_from_octets(bytes(octets))[index])
        assert values == set(range(size))
