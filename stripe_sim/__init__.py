"""A small Stripe-compatible HTTP server for trying the shop without a Stripe account.

It answers the part of the Stripe API the shop uses (Checkout Sessions), serves a
hosted payment page, signs and delivers webhooks, and exposes a `/_sim/` control
API that tests use to inject faults and inspect what happened. Standard library only.
"""
