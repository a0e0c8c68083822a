"""The health official's case pages (issue 12): ``/staff/cases`` and ``/staff/cases/<case>``.

Server-rendered like the other staff pages (they extend ``pages/base.html``), for role
``official`` only. The work itself happens in the browser, in ``casework/``'s script
(built into ``casework/dist/casework.js``, served here as ``/staff/cases/casework.js``):
the "new case" form posts to ``/v1/cases``; the case page reads the health authority's
key file and passphrase into memory, opens the case's sealed lists, shows the visits,
exposures and call list, exports the CSV and publishes the notice, all through the case
API (aggregator/cases). These two pages alone relax the staff pages' CSP to run that
one same-origin script and call the API (``script-src 'self'; connect-src 'self'``).

- :mod:`.strings`: the pages' Korean and the script's strings;
- :mod:`.views`: the blueprint.
"""

from __future__ import annotations

from .views import case_pages

__all__ = ["case_pages"]
