"""Usage: python healthcheck.py PATH — exit 0 when the app answers 200 on PATH.

The image's HEALTHCHECK: slim images have no curl, and Python's urllib is enough.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 2.5
# Probes talk to this container only; a proxy from the environment must not carry them.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def main(path: str) -> int:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"
    try:
        with OPENER.open(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/healthz"))
