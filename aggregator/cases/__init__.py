"""Case tracing (issue 12): the cases health officials open and the JSON API they use.

- :mod:`.tables`: a case (id, opener, reason, period) and the exposure handles its
  list handed out (only those may be asked about again);
- :mod:`.context`: what the tracing process holds that the read API does not (the
  vault, the issuer pepper, the issuer's public keys, the ``[trace]`` settings);
- :mod:`.service`: opening a case by phone or by the wallet's diagnostic code, the
  batches of enrolments, the exposure list and the sealed owners and contacts;
- :mod:`.auth`: who is calling (a staff session cookie with its CSRF header, or a
  tool's bearer token from ``POST /v1/staff/login``), official role only;
- :mod:`.bodies`: the request bodies, parsed and checked;
- :mod:`.api` and :mod:`.login_api`: the blueprints ``/v1/cases`` and ``/v1/staff``.

The contract the page, the CLI and the notices build on is /work/case-api.md (in the
repository: docs/ARCHITECTURE.md, "Tracing a case"). Every answer that hands out data
is preceded by its audit entry (``aggregator.audit_log.append_audit``).
"""
