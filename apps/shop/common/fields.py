"""Sensitive fields encrypted at rest: AES-256-GCM with identified keys, so keys rotate without a rewrite.

A service seals a column's value before it writes it and opens it when it reads the row; the database (its
files, backups, a replica) holds only ciphertext. Each value is bound to where it belongs by the associated
data (e.g. ``order.email:<order id>``): a ciphertext copied into another row or column fails to open. ::

    fields = FieldKeys("order")               # ORDER_FIELD_KEYS, or a dev key in the data directory
    service.add_component(fields)
    stored = fields.seal(email, context=f"order.email:{order_id}")
    email = fields.open(row.email, context=f"order.email:{order_id}")

Keys: ``<SERVICE>_FIELD_KEYS`` holds base64 AES-256 keys, active first, comma-separated (a secret the control
plane injects; rotating = putting a new key first and keeping the old ones until no row needs them). Without
it, a key is generated into ``<home>/data/<service>-field-keys/master.key`` (0600) with a warning: fine on a
developer's machine, where the data sits beside it anyway. Values written before encryption (no ``enc1:``
prefix) are read as they are.

A migration makes a column roomy enough for sealed values with :func:`widen_for_sealing` (and
:func:`narrow_from_sealing` in its ``downgrade()``); it seals no existing row (those stay readable as they are).
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping

from baton.errors import ConfigError, SecretError
from baton.kit.component import InstanceContext
from baton.security.crypto import Keyring, Sealed, load_keyring

log = logging.getLogger(__name__)

PREFIX = "enc1:"
"""Marks a sealed value: ``enc1:<key id>:<nonce>:<ciphertext>`` (base64url, unpadded)."""

SEALED_LENGTH = 1024
"""Characters a column of sealed values holds: an e-mail address (320 at most) sealed is under 500."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FieldKeys:
    """A :class:`~baton.kit.component.Component` sealing and opening one service's sensitive fields."""

    name = "field-keys"

    def __init__(self, service: str, *, keyring: Keyring | None = None, environ: Mapping[str, str] | None = None):
        self.service = service
        self.variable = f"{service.upper()}_FIELD_KEYS"
        self._given = keyring
        self._environ = environ
        self.keyring: Keyring | None = keyring

    async def start(self, ctx: InstanceContext) -> None:
        """Load the keys (see the module docstring).

        Raises:
            ConfigError: the variable holds something other than base64 32-byte keys.
        """
        if self._given is not None:
            return
        env = self._environ if self._environ is not None else os.environ
        text = env.get(self.variable, "").strip()
        directory = ctx.settings.home / "data" / f"{self.service}-field-keys"
        if text:
            self.keyring, _ = load_keyring(directory, environ={"BATON_MASTER_KEY": text})
        else:
            log.warning("%s is not set: sensitive fields are sealed with a key kept in %s", self.variable, directory)
            self.keyring, _ = load_keyring(directory, environ={})

    def _ring(self) -> Keyring:
        if self.keyring is None:
            raise ConfigError(f"{self.service}: field keys are not loaded (the instance did not start)")
        return self.keyring

    def seal(self, value: str, *, context: str) -> str:
        """``value`` encrypted with the active key, bound to ``context``."""
        sealed = self._ring().seal(value.encode("utf-8"), aad=context.encode("utf-8"))
        return f"{PREFIX}{sealed.key_id}:{_b64(sealed.nonce)}:{_b64(sealed.ciphertext)}"

    def open(self, stored: str, *, context: str) -> str:
        """The plaintext of a sealed value (a value from before encryption is returned as it is).

        Raises:
            SecretError: tampered, moved to another context, or sealed with a key no longer held.
        """
        if not stored.startswith(PREFIX):
            return stored
        try:
            key_id, nonce, ciphertext = stored[len(PREFIX) :].split(":")
            sealed = Sealed(key_id=key_id, nonce=_unb64(nonce), ciphertext=_unb64(ciphertext))
        except ValueError as exc:
            raise SecretError(f"{self.service}: a sealed field is malformed") from exc
        return self._ring().open(sealed, aad=context.encode("utf-8")).decode("utf-8")

    async def check(self) -> None:
        """Ready once keys are loaded."""
        self._ring()

    async def drain(self) -> None:
        """Nothing to drain."""

    async def stop(self) -> None:
        """Forget the keys (unless they were given)."""
        self.keyring = self._given


def widen_for_sealing(table: str, column: str, *, plaintext_length: int) -> None:
    """Migration step (in ``upgrade()``): let ``table.column``, a ``String(plaintext_length)``, hold sealed values.

    Rows written before stay readable as they are (no ``enc1:`` prefix); new ones are sealed.
    """
    comment = "sealed (AES-GCM, apps.shop.common.fields)"
    _alter_length(table, column, old=plaintext_length, new=SEALED_LENGTH, comment=comment)


def narrow_from_sealing(table: str, column: str, *, plaintext_length: int) -> None:
    """Migration step (in ``downgrade()``): the reverse of :func:`widen_for_sealing`."""
    _alter_length(table, column, old=SEALED_LENGTH, new=plaintext_length, comment=None)


def _alter_length(table: str, column: str, *, old: int, new: int, comment: str | None) -> None:
    # Imported here: a service imports this module at start, and Alembic loads only when a history has to move.
    import sqlalchemy as sa
    from alembic import op

    extra = {} if comment is None else {"comment": comment}
    with op.batch_alter_table(table) as batch:
        batch.alter_column(
            column, existing_type=sa.String(length=old), type_=sa.String(length=new), existing_nullable=False, **extra
        )
