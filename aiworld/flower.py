"""Flower, always behind basic auth (Procfile `flower`).

    python -m aiworld.flower

Flower does not switch task events on in every worker (--enable_events=False): the gpu worker's
hot path stays without them; the cpu and train workers send them (`-E` in the Procfile).

Refuses to start in production without FLOWER_BASIC_AUTH=user:password; in development it uses
the generated password in .aiworld/secrets.env (printed by `make run`).
"""

from __future__ import annotations

import os
import sys

from aiworld import env


def main() -> None:
    try:
        auth = env.flower_basic_auth()
        address = env.get_str("FLOWER_ADDRESS", "127.0.0.1")
        port = env.get_int("FLOWER_PORT", 5555, minimum=1, maximum=65535)
    except env.EnvError as exc:
        sys.exit(f"aiworld flower: {exc}")
    os.environ["FLOWER_BASIC_AUTH"] = auth  # read by Flower itself; kept off the command line (ps)
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    os.execv(celery, [celery, "-A", "aiworld", "flower", f"--address={address}", f"--port={port}",
                      "--purge_offline_workers=60", "--enable_events=False"])


if __name__ == "__main__":
    main()
