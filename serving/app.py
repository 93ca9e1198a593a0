"""FastAPI app: ``GET /recommend/{user_id}`` from the MLflow champion, ``GET /healthz``.

relay serve            # or: uvicorn serving.app:create_app --factory
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from feature_repo.store import open_store
from relay import registry
from relay.config import RelaySettings, get_settings
from serving.contract import verify_embeddings
from serving.recommender import Recommender

MAX_K = 100
MAX_USER_ID = 2**62


def load_recommender(settings: RelaySettings) -> Recommender | None:
    """The champion from MLflow and the Feast store; None when no champion exists yet."""
    registry.configure(settings)
    champion = registry.alias_version(settings.ranker_model_name, registry.CHAMPION)
    if champion is None:
        return None
    # The artifacts' sha256 must match the lineage recorded at registration: a tampered model never serves.
    bundle, _ = registry.load_verified_ranker(settings.ranker_model_name, int(champion.version))
    store = open_store(settings)
    verify_embeddings(store, bundle)  # refuse to serve a ranker with another version's features
    return Recommender(store=store, bundle=bundle, model_version=int(champion.version))


def create_app(settings: RelaySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.recommender = load_recommender(settings)
        yield

    app = FastAPI(title="Relay recommendations", version="0.1.0", lifespan=lifespan)

    @app.exception_handler(RequestValidationError)
    async def readable_422(_: Request, exc: RequestValidationError) -> JSONResponse:
        messages = [f"{'.'.join(str(p) for p in err['loc'][1:])}: {err['msg']}" for err in exc.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages), "errors": exc.errors()})

    def recommender(request: Request) -> Recommender:
        current = request.app.state.recommender
        if current is None:
            raise HTTPException(status_code=503, detail="no champion model is registered yet; run the pipeline first")
        return current

    @app.get("/healthz")
    def healthz(request: Request) -> dict:
        current = request.app.state.recommender
        if current is None:
            raise HTTPException(status_code=503, detail="no champion model is registered yet")
        return {
            "status": "ok",
            "model_version": current.model_version,
            "embedding_version": current.bundle.embedding_version,
        }

    @app.get("/recommend/{user_id}")
    def recommend(
        request: Request,
        user_id: Annotated[int, Path(ge=1, le=MAX_USER_ID, description="Positive integer user id")],
        k: Annotated[int, Query(ge=1, le=MAX_K, description="Number of items to return")] = 10,
    ) -> dict:
        result = recommender(request).recommend(user_id, k)
        return {
            "user_id": result.user_id,
            "items": [{"item_id": i, "score": s} for i, s in zip(result.item_ids, result.scores, strict=True)],
            "model_version": result.model_version,
            "embedding_version": result.embedding_version,
            "fallback": result.fallback,
            "candidates": result.candidates,
        }

    return app
