"""The Net Promoter Score of a set of 0-10 answers: pure arithmetic, no Django.

Promoters answer 9 or 10, passives 7 or 8, detractors 0 to 6. The NPS is the
share of promoters minus the share of detractors, in points from -100 to 100.
Samples are often small (a roaster may get twenty answers a week), so each
score comes with its margin of error at 95 %: the NPS is the mean of a
variable worth +100 for a promoter, 0 for a passive and -100 for a detractor,
whose variance is (p + d - (p - d)²) x 100² for shares p and d; the margin is
1.96 standard errors, sqrt(variance / n).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

PROMOTER_MIN = 9
PASSIVE_MIN = 7
Z_95 = 1.96


@dataclass(frozen=True)
class Nps:
    """Counts, score and margin of a set of answers (score and margin None when empty)."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0

    @property
    def answers(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> float | None:
        if not self.answers:
            return None
        return 100 * (self.promoters - self.detractors) / self.answers

    @property
    def margin(self) -> float | None:
        """Half the width of the 95 % confidence interval, in points."""
        if not self.answers:
            return None
        p = self.promoters / self.answers
        d = self.detractors / self.answers
        variance = max(p + d - (p - d) ** 2, 0.0)
        return 100 * Z_95 * math.sqrt(variance / self.answers)

    def __add__(self, other: Nps) -> Nps:
        return Nps(
            self.promoters + other.promoters,
            self.passives + other.passives,
            self.detractors + other.detractors,
        )


def band_counts(score: int) -> Nps:
    """The one-answer Nps of `score`."""
    if not 0 <= score <= 10:
        raise ValueError(f"A score is 0 to 10, not {score}.")
    if score >= PROMOTER_MIN:
        return Nps(promoters=1)
    if score >= PASSIVE_MIN:
        return Nps(passives=1)
    return Nps(detractors=1)


def nps_of(scores: Iterable[int]) -> Nps:
    promoters = passives = detractors = 0
    for score in scores:
        one = band_counts(score)
        promoters += one.promoters
        passives += one.passives
        detractors += one.detractors
    return Nps(promoters, passives, detractors)


def response_rate(answered: int, sent: int) -> float | None:
    """Answered surveys per sent survey, in percent (None when nothing was sent)."""
    return 100 * answered / sent if sent else None
