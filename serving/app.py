"""FastAPI app serving the MLflow ``champion``.

    GET  /recommend/{user_id}?k=10         recommendations (``exclude`` may repeat)
    POST /recommend  {"user_id", "k", "exclude_item_ids"}
    GET  /healthz                          ok or degraded (with the reason), the serving model; 503 before a champion
    GET  /metrics                          Prometheus: latency histograms, fallbacks, model version, online store

relay serve            # or: uvicorn serving.app:create_app --factory

The online store failing (the production profile's Redis). Every read waits at most
``RELAY_SERVING_ONLINE_TIMEOUT_S`` (0.25 s) and is never retried by the client; after a failed
read the store is skipped for ``RELAY_SERVING_ONLINE_RETRY_S`` (2 s) but for one trial read, so
latency stays bounded and serving recovers by itself. Meanwhile a user is answered from the last
good read of their online features (``"features_source": "cache"``), kept for at most
``RELAY_SERVING_USER_CACHE_MAX_AGE_S`` (3,600 s) for the ``RELAY_SERVING_USER_CACHE_ENTRIES``
(10,000) most recent users, or else with the popular list, ``"fallback":
"online_store_unavailable"``. A Redis that restarts empty answers every read with "no row"; a
probe of known keys (at most every ``RELAY_SERVING_PROBE_S``, 5 s) tells it apart, cached users
keep their last good read, the others get ``"fallback": "online_store_empty"``, and the
``online_store_sensor`` in Dagster re-materializes the online store from the offline store. In
both cases ``/healthz`` answers 200 with ``"status": "degraded"`` and the reason, and /metrics
counts the store's errors (``relay_online_store_errors_total``), the answers by features source
and by fallback reason, and the fallback share of the last ``RELAY_SERVING_FALLBACK_WINDOW``
answers. ``tests/faults/test_redis_faults.py`` measures it with a real redis-server.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated

import numpy as np
import pandas as pd
import structlog
from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ConfigDict, Field

from core.settings import RelaySettings, get_settings
from serving.champion import ChampionWatcher
from serving.fallback_share import FallbackShare
from serving.feedback import ImpressionLog
from serving.http import BodySizeLimit, ObserveRequests
from serving.logs import configure_json_logs
from serving.metrics import ServingMetrics
from serving.options import ServingOptions
from serving.recommender import Recommendation, Recommender

MAX_USER_ID = 2**62
log = structlog.get_logger("relay.serving")


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: int = Field(ge=1, le=MAX_USER_ID, description="Positive integer user id")
    k: int = Field(default=10, ge=1, description="Number of items to return")
    exclude_item_ids: list[Annotated[int, Field(ge=1)]] = Field(
        default_factory=list, description="Items the client knows the user has seen"
    )


def _clock() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def create_app(
    settings: RelaySettings | None = None,
    options: ServingOptions | None = None,
    clock: Callable[[], pd.Timestamp] = _clock,
    json_logs: bool = False,
    watch: bool = True,
    all_workers_metrics: bool = False,
) -> FastAPI:
    """``watch`` polls the champion alias every ``options.poll_s`` and hot-swaps; ``clock`` is
    the serving time (features' request time and the impressions' timestamps)."""
    settings = settings or get_settings()
    options = options or ServingOptions()
    if json_logs:
        configure_json_logs()
    metrics = ServingMetrics()
    fallback_share = FallbackShare(options.fallback_window)

    def loader(s: RelaySettings, version: int, o: ServingOptions) -> Recommender:
        from serving.champion import load_recommender

        recommender = load_recommender(s, version, o)
        recommender.clock = clock
        return recommender

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        watcher = ChampionWatcher(settings, options, metrics, loader=loader)
        watcher.check()  # a champion that fails verification stops startup, loudly
        impressions = ImpressionLog(settings.served_dir, options.flush_rows) if options.log_impressions else None
        app.state.watcher, app.state.impressions = watcher, impressions
        if watch:
            watcher.start()
        if impressions is not None:
            impressions.start(options.flush_s)
        try:
            yield
        finally:
            watcher.stop()
            if impressions is not None:
                impressions.stop()

    app = FastAPI(title="Relay recommendations", version="0.2.0", lifespan=lifespan)
    app.state.metrics, app.state.options = metrics, options
    app.add_middleware(BodySizeLimit, max_bytes=options.max_body_bytes)
    app.add_middleware(ObserveRequests, metrics=metrics)  # outermost: it sees the 413s too

    @app.exception_handler(RequestValidationError)
    async def readable_422(request: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()]
        log.info("request_rejected", path=request.url.path, status=422, detail="; ".join(messages))
        errors = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages), "errors": errors})

    def current(request: Request) -> Recommender:
        recommender = request.app.state.watcher.current
        if recommender is None:
            raise HTTPException(status_code=503, detail="no champion model is registered yet; run the pipeline first")
        return recommender

    def check_request(k: int, exclude: list[int]) -> None:
        if k > options.max_k:
            raise HTTPException(status_code=422, detail=f"k: must be at most {options.max_k}, got {k}")
        if len(exclude) > options.max_exclude:
            raise HTTPException(
                status_code=422, detail=f"exclude_item_ids: at most {options.max_exclude} ids, got {len(exclude)}"
            )

    def serve(request: Request, user_id: int, k: int, exclude: list[int]) -> JSONResponse:
        check_request(k, exclude)
        recommender = current(request)  # this request keeps this model, whatever swaps meanwhile
        request_id = uuid.uuid4().hex
        rng = np.random.default_rng(uuid.UUID(request_id).int) if options.temperature > 0 else None
        result = recommender.recommend(user_id, k, exclude=exclude, rng=rng)
        for stage, seconds in result.stage_seconds.items():
            metrics.stage_latency.labels(stage=stage).observe(seconds)
        if result.fallback:
            metrics.fallbacks.labels(reason=result.fallback).inc()
        metrics.fallback_share.set(fallback_share.add(result.fallback is not None))
        metrics.features_source.labels(source=result.features_source or "none").inc()
        for error in result.online_errors:
            metrics.online_errors.labels(error=error).inc()
        metrics.online_store(recommender.guard.status()[1])
        if result.guarded_values:
            metrics.guarded_values.inc(result.guarded_values)
        if result.filtered_seen:
            metrics.filtered.labels(rule="already_seen").inc(result.filtered_seen)
        impressions = request.app.state.impressions
        if impressions is not None and result.item_ids:
            impressions.record(
                request_id,
                user_id,
                result.item_ids,
                result.propensities,
                recommender.clock(),
                model_version=result.model_version,
            )
            metrics.impressions.inc(len(result.item_ids))
        log.info(
            "recommendation",
            request_id=request_id,
            user_id=user_id,
            k=k,
            returned=len(result.item_ids),
            model_version=result.model_version,
            configuration=result.configuration,
            fallback=result.fallback,
            features_source=result.features_source,
            online_errors=list(result.online_errors),
            candidates=result.candidates,
            filtered_seen=result.filtered_seen,
            ms={stage: round(seconds * 1000, 3) for stage, seconds in result.stage_seconds.items()},
        )
        return JSONResponse(_response(result, request_id))

    @app.get("/healthz")
    def healthz(request: Request) -> dict:
        """200 with ``"status": "ok"``, or 200 with ``"status": "degraded"`` and a ``reason``
        (``online_store_unavailable``, ``online_store_empty``): a degraded server still answers
        every request (from its last-good cache or the popular list), so a load balancer should
        keep it; alert on the reason. 503 only before a champion exists. Probes the online store's
        known keys when the last probe is older than ``probe_s``, so it also sees recovery."""
        recommender = current(request)
        status, reason = recommender.guard.check()
        metrics.online_store(reason)
        breaker = recommender.guard.breaker
        return {
            "status": status,
            "reason": reason,
            "online_store_error": breaker.last_error,
            "model_version": recommender.model_version,
            "embedding_version": recommender.bundle.embedding_version,
            "configuration": recommender.configuration,
        }

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.exposition(all_workers_metrics), media_type=CONTENT_TYPE_LATEST)

    # ``async def``: a recommendation is ~5 ms of CPU under the GIL, so running it on the event loop
    # beats a thread-pool hop and the GIL hand-offs between threads (the load benchmark measures it).
    @app.get("/recommend/{user_id}")
    async def recommend(
        request: Request,
        user_id: Annotated[int, Path(ge=1, le=MAX_USER_ID, description="Positive integer user id")],
        k: Annotated[int, Query(ge=1, description="Number of items to return")] = 10,
        exclude: Annotated[list[int], Query(description="Item ids to leave out")] = [],  # noqa: B006
    ) -> JSONResponse:
        return serve(request, user_id, k, exclude)

    @app.post("/recommend")
    async def recommend_post(request: Request, body: RecommendRequest) -> JSONResponse:
        return serve(request, body.user_id, body.k, body.exclude_item_ids)

    return app


def create_production_app() -> FastAPI:
    """Factory for ``uvicorn --factory`` with several workers: settings from the environment, JSON logs,
    ``/metrics`` summed over the workers (``relay serve`` points PROMETHEUS_MULTIPROC_DIR at one folder)."""
    return create_app(json_logs=True, all_workers_metrics=True)


def _response(result: Recommendation, request_id: str) -> dict:
    return {
        "user_id": result.user_id,
        "items": [
            {"item_id": item, "score": score, "propensity": propensity}
            for item, score, propensity in zip(result.item_ids, result.scores, result.propensities, strict=True)
        ],
        "model_version": result.model_version,
        "embedding_version": result.embedding_version,
        "configuration": result.configuration,
        "fallback": result.fallback,
        "features_source": result.features_source,
        "candidates": result.candidates,
        "request_id": request_id,
    }
