"""Dagster orchestration of Relay: assets by stage, checks, resources, schedules and contracts."""
