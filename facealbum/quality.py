"""Face quality in matching: a blurred face needs a closer match.

The face model gives blurred and upscaled small faces descriptors that lie close
together whoever they are: on gray, blurred record cards of 11 people (bench/
clickface.py), two *different* people score 47 on average where sharp photos score 6,
and one global threshold of 80 keeps only 65 % of its matches right. Raising the
threshold for everyone costs the sharp photos their recall, so the threshold a match
needs rises with the blurrier face of the pair instead: ``penalty`` similarity points
for each sharpness point (0-100, see adapters/engine_dlib.sharpness, or Rekognition's
Quality.Sharpness) below ``floor``. The floor and penalty were chosen by
cross-validation across people, on sharp, scanned and blurred faces together.

A face whose sharpness is unknown (stored before it was measured) counts as sharp.

A threshold of 0 asks for every face, and gets every face: the rule raises a threshold,
it does not add one where the caller asked for none (issue 16, item 15).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QualityRule:
    floor: float = 50.0
    penalty: float = 0.2

    def required(self, threshold: float, a: float | None, b: float | None) -> float:
        """The similarity a match between faces of sharpness ``a`` and ``b`` needs:
        ``threshold`` itself when it is 0 (every face) or both faces are sharp."""
        known = [s for s in (a, b) if s is not None]
        if not known or self.penalty <= 0 or threshold <= 0:
            return threshold
        return min(100.0, threshold + self.penalty * max(0.0, self.floor - min(known)))

    def raise_for(self, a: float | None, b: float | None) -> float:
        """The points a match between faces of sharpness ``a`` and ``b`` needs above a
        (non-zero) threshold: taken off a pair's similarity, it is a score that the
        threshold itself cuts (as grouping does, bench/people_accuracy.py)."""
        known = [s for s in (a, b) if s is not None]
        if not known or self.penalty <= 0:
            return 0.0
        return self.penalty * max(0.0, self.floor - min(known))

    def accepts(
        self, similarity: float, threshold: float, a: float | None, b: float | None
    ) -> bool:
        """Whether a match of ``similarity`` between faces of sharpness ``a`` and ``b``
        counts at ``threshold``: the one matching rule of every search."""
        return similarity >= self.required(threshold, a, b)


NO_RULE = QualityRule(penalty=0.0)
