"""One round trip through the real serving stack, for ``relay demo``: start the API on a free
loopback port, request recommendations over HTTP, stop it. (Plain serving code; it could live
in ``serving/`` if anything else needs it.)"""

from __future__ import annotations

import threading
import time
from typing import Any

from core.settings import RelaySettings


def recommend_over_http(
    settings: RelaySettings, user_ids: list[int], k: int = 10, start_timeout_s: float = 120.0
) -> list[dict[str, Any]]:
    """The ``/recommend/<user>?k=<k>`` responses of a server started for the purpose."""
    import httpx
    import uvicorn

    from serving.app import create_app

    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the serving app did not start")
        time.sleep(0.1)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        responses = []
        for user_id in user_ids:
            response = httpx.get(f"http://127.0.0.1:{port}/recommend/{user_id}", params={"k": k}, timeout=60)
            response.raise_for_status()
            responses.append(response.json())
        return responses
    finally:
        server.should_exit = True
        thread.join(timeout=30)
