"""People: the album's faces grouped into persons, and the owner's hand on them.

One package, a module per concern:

- :mod:`.clustering` — graph clustering algorithms (no album, no I/O).
- :mod:`.grouping` — automatic grouping: the full re-grouping (``recluster``), placing
  new faces as they arrive (``place_faces``) and keeping people through re-analysis
  (``swap_faces``).
- :mod:`.scoring` — AS-norm scores against each face's neighbourhood (an option of
  the regrouping; pure functions).
- :mod:`.regroup` — the regrouping as a job: requested when a batch ends, debounced,
  one runner at a time per album (a lease in the catalog), its progress.
- :mod:`.representatives` — each person's few representative faces (cover, medoid,
  spread), kept in step as faces join and leave, for the people pages and searches.
- :mod:`.edits` — the owner's edits (name, hide, cover, merge, split, "not this
  person") and the searches by people and by photo.
- :mod:`.users_mirror` — the persons mirrored into the face collection as Rekognition
  users, so a plain boto3 client sees them.

The invariants, kept by every catalog (``tests/test_ports.py`` runs them on SQLite,
PostgreSQL and DynamoDB):

- **Where a face's person lives.** The catalog is the truth: each face has at most one
  person, changed only through ``Catalog.assign_faces`` (conditional on the person the
  face had, and on the new person existing), so concurrent moves never leave a face in
  two persons or in a deleted one. The collection's users follow the catalog.
- **What survives re-analysis.** The owner's placements (``by_owner``), "not this
  person" answers, names, hidden flags and covers survive ``recluster``, ``reindex``,
  ``faces reindex``, ``check --repair``, migration, backup and restore: automatic
  grouping treats owner-placed faces as fixed and never puts a face back into a person
  it was rejected from.
- **Who may delete a person.** Automatic grouping deletes only unnamed persons left
  without faces, checked by the deleting write itself (``Catalog.delete_unused_person``),
  so a person the owner names or fills meanwhile stays; a named person is never deleted
  for losing its faces. Only the
  owner's merge removes a named person (its faces go to the other one).
"""
