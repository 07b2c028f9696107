"""Face search: the original's search function without its 100-key cap. Similarities
are on Rekognition's scale, where 80 (the default) means "the same person".

The index returns every face above the threshold; this reduces them to one entry per
picture (its best-matching face) and pages over pictures, so page 2 never repeats a
picture from page 1 whatever the number of faces per picture.
"""

from __future__ import annotations

from dataclasses import dataclass

from .domain import BadInput, Face, NotFound, Picture
from .faces import cosine_for, similarity
from .ports import Catalog, FaceIndex, Hit


@dataclass
class Match:
    similarity: float
    picture: Picture
    face: Face


@dataclass
class SearchResult:
    query: Face
    total: int  # pictures above the threshold, before paging
    matches: list[Match]


def best_per_picture(hits: list[Hit], first_image: str | None = None) -> list[Hit]:
    """Hits arrive best first, so the first hit seen for a picture is its best face."""
    seen: set[str] = set()
    out: list[Hit] = []
    for hit in hits:
        if hit.image_id not in seen:
            seen.add(hit.image_id)
            out.append(hit)
    if first_image is not None:
        out.sort(key=lambda h: h.image_id != first_image)  # stable: rest stays ranked
    return out


def search_face(
    catalog: Catalog,
    index: FaceIndex,
    face_id: str,
    threshold: float,
    limit: int = 50,
    offset: int = 0,
) -> SearchResult:
    if not 0 <= threshold <= 100:
        raise BadInput("threshold must be between 0 and 100")
    if limit < 1 or offset < 0:
        raise BadInput("limit must be positive and offset not negative")
    query = catalog.get_face(face_id)
    if query is None or query.embedding is None:
        raise NotFound(f"no face {face_id}")
    # thresholds and scores on Rekognition's scale (see faces.similarity); the index
    # works in cosine x 100
    found = index.search(query.embedding, cosine_for(threshold) * 100)
    hits = [Hit(h.face_id, h.image_id, similarity(h.similarity / 100)) for h in found]
    hits = [h for h in hits if h.similarity >= threshold]  # rounding at the very cut
    ranked = best_per_picture(hits, query.image_id)
    if not ranked or ranked[0].image_id != query.image_id:
        # the query's own picture always leads, even if the index lags behind
        ranked.insert(0, Hit(query.face_id, query.image_id, 100.0))
    page = ranked[offset : offset + limit]
    pictures = catalog.get_pictures([h.image_id for h in page])
    matches = []
    for hit in page:
        picture = pictures.get(hit.image_id)
        if picture is None:  # deleted since the index was loaded
            continue
        face = next((f for f in picture.faces if f.face_id == hit.face_id), None)
        if face is not None:
            matches.append(Match(hit.similarity, picture, face))
    return SearchResult(query, len(ranked), matches)
