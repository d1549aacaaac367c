"""The Net Promoter Score arithmetic, checked against hand computations."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from satisfaction.nps import Nps, nps_of, response_rate


def test_a_fixed_set_of_answers_matches_the_hand_computation():
    # Promoters 10, 9, 9, 10, 9 (5); passives 8, 7 (2); detractors 6, 5, 0 (3).
    nps = nps_of([10, 9, 9, 8, 7, 6, 5, 0, 10, 9])

    assert (nps.promoters, nps.passives, nps.detractors, nps.answers) == (5, 2, 3, 10)
    assert nps.score == pytest.approx(20.0)  # 50 % - 30 %
    # variance = p + d - (p - d)^2 = 0.5 + 0.3 - 0.04 = 0.76; margin = 1.96 * sqrt(0.76 / 10)
    assert nps.margin == pytest.approx(100 * 1.96 * math.sqrt(0.076))
    assert nps.margin == pytest.approx(54.03, abs=0.01)


def test_no_answers_give_no_score_and_no_margin():
    nps = nps_of([])
    assert (nps.answers, nps.score, nps.margin) == (0, None, None)


def test_all_passives_score_zero_with_no_spread():
    nps = nps_of([7, 8, 8, 7])
    assert (nps.passives, nps.score, nps.margin) == (4, 0.0, 0.0)


def test_all_promoters_and_all_detractors_are_the_extremes():
    assert nps_of([9, 10]).score == 100.0
    assert nps_of([0, 6, 3]).score == -100.0


def test_the_band_edges():
    assert nps_of([6]).detractors == 1
    assert nps_of([7]).passives == 1
    assert nps_of([8]).passives == 1
    assert nps_of([9]).promoters == 1


@pytest.mark.parametrize("score", [-1, 11])
def test_a_score_outside_0_to_10_is_an_error(score):
    with pytest.raises(ValueError, match="0 to 10"):
        nps_of([score])


def test_response_rate():
    assert response_rate(3, 12) == 25.0
    assert response_rate(0, 0) is None


@given(st.lists(st.integers(0, 10), max_size=60), st.lists(st.integers(0, 10), max_size=60))
def test_sums_of_parts_equal_the_whole(first, second):
    assert nps_of(first) + nps_of(second) == nps_of(first + second)
    whole = nps_of(first + second)
    if whole.answers:
        assert -100 <= whole.score <= 100
        assert whole.margin >= 0
    assert Nps() + whole == whole
