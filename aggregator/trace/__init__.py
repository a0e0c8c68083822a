"""Case tracing on the aggregator's side: the visit index and the exposure engine.

- :mod:`aggregator.trace.schema`: the check-in table's tracing columns (``venue_id``,
  ``visit_tag``) and its (venue, placed time) index, added in place to older databases;
- :mod:`aggregator.trace.settings`: the ``[trace]`` table (stays, minimum overlap);
- :mod:`aggregator.trace.stays`: half-open stays and their overlaps (pure functions);
- :mod:`aggregator.trace.records`: the three fields tracing reads from an opened record;
- :mod:`aggregator.trace.exposure`: from a case's credential ids and a period, its
  visits and every overlapping visit at the same venues, ranked by overlap; opaque
  handles the server alone maps back to credential ids;
- :mod:`aggregator.trace.visitors`: the other visitors told apart by their tags, and
  which few records must still be opened for it;
- :mod:`aggregator.trace.backfill`: the index of rows stored before it existed, once.

The figures (``safecode bench trace``, benchmarks/trace.py) compare the exposure list
with one bare indexed SQL query fetching the same rows.

The index: ingest stores with each check-in ``visit_tag`` = AES-256 of the visitor's
credential id (one 16-byte block), under a key derived (HMAC) from the data key of the
day the row is stored on (aggregator.vault); beside it the kiosk's ``door`` and the
code type masked under the same day key (``code_mark``). Given a credential id the server
computes that day's tag and finds the visits through an ordinary index; once retention
destroys the day key the tag can never be computed again, and the column is blanked
(aggregator/retention.py, aggregator/forget.py). No credential id is stored in the clear.

What the tag gives away: one credential's visits stored on the same UTC day share a
tag, so whoever reads the database (without the master key) can tell that the same
unnamed visitor made those visits that day (a day's trail, never a name, never across
days: the next day's key gives other tags). Before the tag, rows could not be linked
at all. A tag also keyed by a few hours' bucket of ``received_ms`` would shorten that
trail to the bucket, at the price of more tags per lookup (days x buckets x
credentials); not done: a decision for the design, not for this module.

This package reads only the rows a query needs (the case's, and those at its venues
around its stays), never a table, and opens (decrypts) almost none of them: the list
is made from the index (aggregator/trace/visitors.py says which records are still
opened and why); the credential ids behind the exposed visits are opened only when
the official asks for contacts (``credential_ids_of``). It runs where the data master
key is, as ingest does.
"""
