"""Every way a keyring's private keys could be written down (to search logs and dumps)."""

import base64

from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat


def secret_forms(ring):
    forms = []
    for kid in [k.kid for k in ring.list_keys() if k.status != "revoked"]:
        key = ring.signer(kid)
        seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
        forms += [
            seed.hex(),
            seed.hex().upper(),
            base64.b64encode(seed).decode().rstrip("="),
            base64.urlsafe_b64encode(seed).decode().rstrip("="),
            "".join(pem.strip().splitlines()[1:-1]),
        ]
    assert forms
    return forms
