"""FastAPI serving of the MLflow ``champion`` with Feast online features."""
