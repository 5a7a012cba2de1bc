"""Service settings, read from environment variables prefixed ``CVAT_BRIDGE_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from cvat_bridge.limits import MAX_IMAGE_PIXELS

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # the CLI's and its job processes' logs


class Settings(BaseSettings):
    """Every knob of the service. ``CVAT_BRIDGE_<FIELD>`` sets a field (e.g. ``CVAT_BRIDGE_DATA_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="CVAT_BRIDGE_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("data")
    database_url: str | None = None  # default: SQLite file in the data dir
    api_token: SecretStr | None = None  # default: generated at first start, stored in the data dir
    redis_url: str | None = None  # set: jobs go to Redis (RQ) for `cvat-bridge worker` processes

    # Upload and image limits (bad input is refused with a clear error; fixed limits: cvat_bridge.limits).
    max_upload_bytes: int = 2 * 1024**3
    max_uncompressed_bytes: int = 8 * 1024**3
    max_files: int = 200_000
    max_compression_ratio: float = 200.0
    max_image_pixels: int = MAX_IMAGE_PIXELS  # one image
    max_predict_files: int = 64  # files in one /predict request
    max_predict_file_bytes: int = 32 * 1024**2  # one file of a /predict request
    max_predict_pixels: int = 4 * MAX_IMAGE_PIXELS  # the images of one /predict request together

    staging_max_age_seconds: float = 6 * 3600  # older leftovers of crashed imports are swept at start

    # Jobs.
    job_heartbeat_seconds: float = 5.0
    job_stale_after_seconds: float = 60.0
    train_processes: int | Literal["auto"] = "auto"  # per training job: "auto" = every GPU (1 on CPU)

    # Inference.
    inference_threads: int = 1
    predictor_cache_size: int = 4

    # CVAT and Nuclio.
    cvat_url: str | None = None
    cvat_access_token: SecretStr | None = None
    cvat_username: str | None = None
    cvat_password: SecretStr | None = None
    cvat_organization: str | None = None
    nuclio_url: str | None = None
    public_url: str | None = None  # this service's URL as the Nuclio dashboard reaches it (function zips)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://"):  # use psycopg 3, the driver we install
                url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
            return url
        return f"sqlite:///{(self.data_dir / 'cvat-bridge.sqlite3').resolve()}"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache after changing the environment)."""
    return Settings()
