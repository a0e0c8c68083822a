"""Staff accounts: logins for the pages people use (issue 12, item 1).

Four roles (``roles.ROLES``): ``official`` (health official: tracing), ``venue`` (venue
owner, bound to its venues), ``operator`` (technician: the fleet) and ``desk`` (desk
staff: printed cards). The public needs no account. Accounts are made from the command
line only (``safecode aggregator user ...``, :mod:`.cli`); nothing on the web creates one.

- :mod:`.tables`: the users, their venues, their sessions and the per-address throttle;
- :mod:`.passwords`: the password rule and argon2id hashing (argon2-cffi's defaults,
  rehashed on the next login when those change);
- :mod:`.users`: add, list, disable, change password, bind venues;
- :mod:`.login`: checking a password with per-account lockout and per-address throttle;
- :mod:`.sessions`: server-side sessions with idle and absolute timeouts;
- :mod:`.secret_key`: the key that signs the session cookie, read from (or made in) a
  0600 file, never the database.

Desk staff keep their API tokens (``aggregator.desk.tokens``) for the desk API; a
``desk`` login is for the pages only.
"""
