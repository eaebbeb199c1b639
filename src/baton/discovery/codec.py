"""How an :class:`Instance` is written into shared stores (JSON, stable field names)."""

from __future__ import annotations

import orjson

from baton.discovery.base import Instance
from baton.errors import ConfigError


def encode_instance(instance: Instance) -> bytes:
    """Serialise ``instance`` as compact JSON."""
    return orjson.dumps(
        {
            "service": instance.service,
            "id": instance.id,
            "host": instance.host,
            "port": instance.port,
            "scheme": instance.scheme,
            "version": instance.version,
            "metadata": instance.metadata,
        }
    )


def decode_instance(data: bytes) -> Instance:
    """Parse what :func:`encode_instance` wrote.

    Raises:
        ConfigError: the bytes are not a valid instance record.
    """
    try:
        raw = orjson.loads(data)
        return Instance(
            service=str(raw["service"]),
            id=str(raw["id"]),
            host=str(raw["host"]),
            port=int(raw["port"]),
            scheme=str(raw.get("scheme", "http")),
            version=str(raw.get("version", "dev")),
            metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid instance record: {exc}") from exc
