"""The desk: staff issue printed cards to visitors without a smartphone, and revoke lost ones.

``tokens``: desk staff bearer tokens (their own role, hashed like operator tokens);
``cards``: issuing a card (a 28-day credential signed once as a ``CodeType.CARD``
code by a one-off key that is then dropped; the contact sealed to the health
authority) and revoking it; ``printable``: the A6 page the desk prints;
``settings``: what the desk needs from the aggregator config. The HTTP side is
``aggregator/api/desk.py``; privacy costs of a static card are in docs/CARDS.md.
"""
