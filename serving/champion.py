"""Load the MLflow ``champion`` and swap to a new one without dropping a request.

A request reads ``watcher.current`` once and keeps that object to the end, so a swap (one
attribute assignment, atomic in Python) never changes the model under a request in flight.
The new champion is fully loaded and verified before the swap; if loading fails, the old
one keeps serving and the failure is logged and counted.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

import structlog

from core.settings import RelaySettings
from features.feast_store import open_store
from serving.contract import verify_embeddings
from serving.metrics import ServingMetrics
from serving.online_guard import bounded_redis_url
from serving.options import ServingOptions
from serving.recommender import Recommender
from training import registry

log = structlog.get_logger("relay.serving")


def champion_version(settings: RelaySettings) -> int | None:
    registry.configure(settings)
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    return None if champion is None else int(champion.version)


def load_recommender(settings: RelaySettings, version: int, options: ServingOptions) -> Recommender:
    """A verified ranker version and the Feast store, ready to serve."""
    # The artifacts' sha256 must match the lineage recorded at registration: a tampered model never serves.
    bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, version)
    store = open_store(bounded_redis_url(settings, options))  # bounded waits on the online store
    verify_embeddings(store, bundle)  # refuse to serve a ranker with another version's features
    configuration = registry.version_configuration(settings.ranker_model_name, version)
    return Recommender(store=store, bundle=bundle, model_version=version, options=options, configuration=configuration)


class ChampionWatcher:
    def __init__(
        self,
        settings: RelaySettings,
        options: ServingOptions,
        metrics: ServingMetrics,
        loader: Callable[[RelaySettings, int, ServingOptions], Recommender] = load_recommender,
    ) -> None:
        self.settings, self.options, self.metrics, self.loader = settings, options, metrics, loader
        self.current: Recommender | None = None
        self._lock = threading.Lock()  # one load at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._aliases: registry.AliasReader | None = None

    def _champion_version(self) -> int | None:
        """The alias's version: one registry query (configuring MLflow runs once, not every poll,
        because a poll holds the GIL that live requests need). None: no champion yet."""
        if self._aliases is None:
            registry.configure(self.settings)
            self._aliases = registry.AliasReader(self.settings.tracking_uri)
        return self._aliases.version(self.settings.ranker_model_name, registry.CHAMPION)

    def check(self) -> bool:
        """Load the champion if the alias moved; True when a new model now serves."""
        with self._lock:
            version = self._champion_version()
            current = self.current
            if version is None or (current is not None and current.model_version == version):
                return False
            try:
                loaded = self.loader(self.settings, version, self.options)
            except Exception as error:
                self.metrics.load_failures.inc()
                log.error(
                    "champion_load_failed",
                    model_version=version,
                    serving_version=None if current is None else current.model_version,
                    error=f"{type(error).__name__}: {error}",
                )
                if current is None:
                    raise
                return False
            # Startup objects (Feast protos, the model) are long-lived: keep them out of the collector's
            # full passes, which otherwise stall every request for ~0.5 s now and then.
            gc.freeze()
            self.current = loaded
            if current is not None:
                self.metrics.swaps.inc()
            self.metrics.serving(loaded.model_version, loaded.bundle.embedding_version)
            log.info(
                "champion_serving",
                model_version=loaded.model_version,
                previous_version=None if current is None else current.model_version,
                embedding_version=loaded.bundle.embedding_version,
            )
            return True

    def _poll(self) -> None:
        while not self._stop.wait(self.options.poll_s):
            try:
                self.check()
            except Exception as error:  # a registry outage must not kill the poller; it is logged
                self.metrics.load_failures.inc()
                log.error("champion_poll_failed", error=f"{type(error).__name__}: {error}")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._poll, name="champion-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
