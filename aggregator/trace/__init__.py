"""Case tracing on the aggregator's side: the visit index and the exposure engine.

- :mod:`aggregator.trace.schema`: the check-in table's tracing columns (``venue_id``,
  ``visit_tag``) and its (venue, placed time) index, added in place to older databases;
- :mod:`aggregator.trace.settings`: the ``[trace]`` table (stays, minimum overlap);
- :mod:`aggregator.trace.stays`: half-open stays and their overlaps (pure functions);
- :mod:`aggregator.trace.records`: the three fields tracing reads from an opened record;
- :mod:`aggregator.trace.exposure`: from a case's credential ids and a period, its
  visits and every overlapping visit at the same venues, ranked by overlap;
- :mod:`aggregator.trace.backfill`: the index of rows stored before it existed, once.

The figures (``safecode bench trace``, benchmarks/trace.py) compare the exposure list
with one bare indexed SQL query fetching the same rows.

The index: ingest stores with each check-in ``visit_tag`` = HMAC-SHA-256 (truncated to
16 bytes) of the visitor's credential id, under a key derived (HMAC) from the data key
of the day the row is stored on (aggregator.vault). Given a credential id the server
computes that day's tag and finds the visits through an ordinary index; once retention
destroys the day key the tag can never be computed again, and the column is blanked
(aggregator/retention.py, aggregator/forget.py). No credential id is stored in the clear.

This package decrypts only the rows a query needs (the case's, and those at its venues
around its stays), never a table; it runs where the data master key is, as ingest does.
"""
