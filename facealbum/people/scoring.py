"""Cohort-normalised match scores: a pair of faces judged against each face's own
neighbourhood in the album, not against one threshold for every face.

Some faces look like many others to the face model (gray scans, blurred prints,
crowded look-alikes): their similarities to *everyone* are high, and one threshold
either merges them or splits the ordinary faces. AS-norm (adaptive symmetric score
normalisation, as speaker and face verification use it) scores a pair by how far its
similarity stands above each face's top-k cohort, in that cohort's standard deviations,
averaged over both faces: symmetric, so a pair scores the same from either end.

The album is its own cohort: each face's k most similar other faces, as the faces
port's SearchFaces lists them (so it works on every engine). A search lists only faces
at or above its threshold, so a cohort member below it counts as the threshold itself
(``floor``): the statistic depends only on what one search returns.

Similarities are on Rekognition's scale; the statistics are taken on the cosines behind
them (``faces.cosine_for``, the album's own curve), where a cohort's spread means the
same for crowded and sparse faces. Chosen by ``bench/people_accuracy.py`` (leave one
source out) for grouping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from ..faces import cosine_for

K = 50  # cohort size: well above any one person's photos in an album
SAME = 100.0  # a similarity the model gives only a face and its copy (the same photo)


@dataclass(frozen=True)
class Cohort:
    """A face's neighbourhood: the mean and standard deviation (cosines) of its ``K``
    best similarities to other faces of the album."""

    mean: float
    std: float


def cohort_of(similarities: Iterable[float], floor: float, k: int = K) -> Cohort:
    """The cohort of a face from its search's similarities (0-100, any order; at or
    above ``floor``, the search's threshold): the k best, padded with ``floor`` where
    the search returned fewer. The face's copies (similarity 100: the same photo stored
    again) are left out: they say nothing of its neighbourhood, and 50 of them would
    make every pair of them score 0, so that the copies never group."""
    best = sorted((s for s in similarities if s < SAME), reverse=True)[:k]
    cosines = [cosine_for(s) for s in best] + [cosine_for(floor)] * (k - len(best))
    mean = sum(cosines) / k
    var = sum((c - mean) ** 2 for c in cosines) / k
    return Cohort(mean, math.sqrt(var) + 1e-6)


def as_norm(similarity: float, a: Cohort, b: Cohort) -> float:
    """The pair's score: the mean of its cosine's z-scores in both faces' cohorts."""
    c = cosine_for(similarity)
    return 0.5 * ((c - a.mean) / a.std + (c - b.mean) / b.std)
