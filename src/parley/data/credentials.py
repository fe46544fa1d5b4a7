"""Connection credentials are sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key
derived from the server secret; only the connector ever sees them in the clear."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from parley.errors import ParleyError


class CredentialUnreadable(ParleyError):
    status_code = 500
    error_code = "CREDENTIAL_UNREADABLE"


class CredentialBox:
    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(b"parley-credentials:" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, credential: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(credential).encode()).decode()

    def open(self, sealed: str) -> dict[str, Any]:
        try:
            value = json.loads(self._fernet.decrypt(sealed.encode()))
        except InvalidToken as err:
            raise CredentialUnreadable(
                "this connection's credential cannot be decrypted: the server secret "
                "(PARLEY_CREDENTIALS_SECRET or <data_dir>/server-secret) changed"
            ) from err
        assert isinstance(value, dict)
        return value
