"""Command line: `python -m stripe_sim [--host H] [--port P] [--public-url U] [--webhook-url U]`."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from urllib.parse import urlsplit

from stripe_sim.server import SimulatorServer
from stripe_sim.simulator import (
    DEFAULT_WEBHOOK_SECRET,
    Config,
    Simulator,
    check_webhook_secret,
    check_webhook_url,
)

logger = logging.getLogger("stripe_sim")

DEFAULT_PORT = 12111
WILDCARD_HOSTS = ("0.0.0.0", "")  # noqa: S104 - recognised, never chosen by default


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sim",
        description="A small Stripe-compatible server for Checkout Sessions and webhooks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--public-url",
        help="base URL browsers use to reach the simulator (default: the listening address)",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("STRIPE_SIM_WEBHOOK_URL") or None,
        help="where to POST events (default: $STRIPE_SIM_WEBHOOK_URL; none: only store them)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET,
        help="whsec_ secret events are signed with (default: $STRIPE_WEBHOOK_SECRET)",
    )
    args = parser.parse_args(argv)
    try:
        refuse_beside_stripe(os.environ.get("STRIPE_API_BASE", ""))
        check_webhook_url(args.webhook_url)
        check_webhook_secret(args.webhook_secret)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def refuse_beside_stripe(api_base: str) -> None:
    """With the app on Stripe itself, the webhook secret here is Stripe's: we must not sign."""
    host = (urlsplit(api_base.strip()).hostname or "").rstrip(".")
    if host == "stripe.com" or host.endswith(".stripe.com"):
        raise ValueError(
            f"STRIPE_API_BASE is Stripe's ({api_base}), so the app talks to Stripe, not to this "
            "simulator, which would sign events with Stripe's webhook secret: not starting."
        )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    sim = Simulator(
        Config(public_url="", webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    )
    server = SimulatorServer((args.host, args.port), sim)
    host, port = server.socket.getsockname()[:2]
    browser_host = "127.0.0.1" if host in WILDCARD_HOSTS else host
    sim.configure(public_url=(args.public_url or f"http://{browser_host}:{port}").rstrip("/"))
    # As PID 1 in a container, SIGTERM is ignored unless handled.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Tests and scripts read this exact first line to learn the port.
    print(f"stripe_sim listening on http://{host}:{port}", flush=True)
    logger.info("hosted pages at %s, webhooks to %s", sim.config.public_url, args.webhook_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
