"""campaign: orchestration of CHGGen runs (configuration, Ray pipeline, Parquet I/O, CLI)."""

__all__: list[str] = []
