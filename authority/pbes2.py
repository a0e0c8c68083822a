"""PKCS#8 private keys encrypted with PBES2 at a chosen PBKDF2 cost (RFC 8018, RFC 5958).

``cryptography`` writes encrypted PKCS#8 only at its own fixed PBKDF2 cost (2,048
iterations in release 50), far below today's advice for a key that opens every
visitor's contact. This module writes the same format at :data:`PBKDF2_ITERATIONS`:
PBKDF2-HMAC-SHA-256, AES-256-CBC, a random 16-byte salt and IV. The DER is built with
pyasn1-modules' RFC 8018 and RFC 5208 types; reading stays with ``cryptography``
(OpenSSL), and the case page reads it with WebCrypto.
"""

from __future__ import annotations

import base64
import os
import textwrap

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_modules import rfc5208, rfc8018

#: OWASP's 2023 figure for PBKDF2-HMAC-SHA-256; about a quarter of a second here.
PBKDF2_ITERATIONS = 600_000
SALT_BYTES = 16
KEY_BYTES = 32  # AES-256
PEM_BEGIN = "-----BEGIN ENCRYPTED PRIVATE KEY-----"
PEM_END = "-----END ENCRYPTED PRIVATE KEY-----"


def _algorithm(
    oid: univ.ObjectIdentifier, parameters: univ.Asn1Item
) -> rfc5208.AlgorithmIdentifier:
    algorithm = rfc5208.AlgorithmIdentifier()
    algorithm["algorithm"] = oid
    algorithm["parameters"] = parameters
    return algorithm


def _pbes2_parameters(salt: bytes, iterations: int, iv: bytes) -> rfc8018.PBES2_params:
    kdf = rfc8018.PBKDF2_params()
    kdf["salt"]["specified"] = univ.OctetString(salt)
    kdf["iterationCount"] = iterations
    kdf["keyLength"] = KEY_BYTES
    kdf["prf"]["algorithm"] = rfc8018.id_hmacWithSHA256
    kdf["prf"]["parameters"] = univ.Null("")
    params = rfc8018.PBES2_params()
    params["keyDerivationFunc"]["algorithm"] = rfc8018.id_PBKDF2
    params["keyDerivationFunc"]["parameters"] = kdf
    params["encryptionScheme"]["algorithm"] = rfc8018.aes256_CBC_PAD
    params["encryptionScheme"]["parameters"] = rfc8018.AES_IV(iv)
    return params


def encrypt_pkcs8(
    private_key_info: bytes, passphrase: bytes, iterations: int = PBKDF2_ITERATIONS
) -> bytes:
    """A PEM "ENCRYPTED PRIVATE KEY" holding the DER PKCS#8 ``private_key_info``."""
    if iterations < 1:
        raise ValueError("PBKDF2 needs at least one iteration")
    salt, iv = os.urandom(SALT_BYTES), os.urandom(16)
    kdf = PBKDF2HMAC(hashes.SHA256(), KEY_BYTES, salt, iterations)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(private_key_info) + padder.finalize()
    encryptor = Cipher(algorithms.AES(kdf.derive(passphrase)), modes.CBC(iv)).encryptor()
    info = rfc5208.EncryptedPrivateKeyInfo()
    info["encryptionAlgorithm"] = _algorithm(
        rfc8018.id_PBES2, _pbes2_parameters(salt, iterations, iv)
    )
    info["encryptedData"] = encryptor.update(plain) + encryptor.finalize()
    body = base64.b64encode(encoder.encode(info)).decode("ascii")
    lines = "\n".join(textwrap.wrap(body, 64))
    return f"{PEM_BEGIN}\n{lines}\n{PEM_END}\n".encode("ascii")


def pbkdf2_iterations(pem: bytes) -> int:
    """The PBKDF2 iteration count of a PBES2 "ENCRYPTED PRIVATE KEY" PEM.

    Raises ValueError for anything else (another PEM, another scheme, bad DER).
    """
    text = pem.decode("ascii", errors="strict").strip()
    if not (text.startswith(PEM_BEGIN) and text.endswith(PEM_END)):
        raise ValueError("not an encrypted PKCS#8 PEM")
    body = base64.b64decode("".join(text[len(PEM_BEGIN) : -len(PEM_END)].split()), validate=True)
    try:
        info, rest = decoder.decode(body, asn1Spec=rfc5208.EncryptedPrivateKeyInfo())
        algorithm = info["encryptionAlgorithm"]
        if rest or algorithm["algorithm"] != rfc8018.id_PBES2:
            raise ValueError("not PBES2")
        params, _ = decoder.decode(algorithm["parameters"], asn1Spec=rfc8018.PBES2_params())
        kdf = params["keyDerivationFunc"]
        if kdf["algorithm"] != rfc8018.id_PBKDF2:
            raise ValueError("not PBKDF2")
        kdf_params, _ = decoder.decode(kdf["parameters"], asn1Spec=rfc8018.PBKDF2_params())
    except PyAsn1Error as exc:
        raise ValueError(f"not a PBES2 key file: {exc}") from exc
    return int(kdf_params["iterationCount"])
