"""`sirolimus-cds token`: a test issuer on this machine, to exercise the service's JWT path.

    sirolimus-cds token --new-key DIR [--iss ISS]     an ES384 key pair in DIR: private-key.pem (mode 600),
                                                      jwks.json (the public key), issuer.toml (the
                                                      [[auth.issuers]] block to add to the configuration)
    sirolimus-cds token --key DIR --aud URL           one JWT, as an EHR signs it for a call to URL

The token is what CDS Hooks 2.0 asks of an EHR: ES384, header `kid` and `typ`, claims `iss`, `sub`,
`aud` (the exact URL called), `iat`, `exp` (5 minutes later, the service's default maximum lifetime),
and a new random `jti` (each token is accepted once). For tests and integration only: a real EHR
signs with its own key, published at its `jku`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import tomllib
import uuid
from pathlib import Path
from typing import TextIO

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cds_service.cli.common import EXIT_OK, EXIT_USAGE, ToolkitError

ALG = "ES384"
SUB = "sirolimus-cds-token"
PRIVATE_KEY, JWKS, ISSUER_TOML = "private-key.pem", "jwks.json", "issuer.toml"


def new_key(folder: Path, iss: str) -> str:
    """Write the key pair and the configuration block into `folder`; the block's text."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / PRIVATE_KEY).exists():
        raise ToolkitError(f"{folder / PRIVATE_KEY} exists already: choose another folder", EXIT_USAGE)
    key = ec.generate_private_key(ec.SECP384R1())
    kid = str(uuid.uuid4())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    descriptor = os.open(folder / PRIVATE_KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as private:
        private.write(pem)
    public = {**ECAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": ALG}
    (folder / JWKS).write_text(json.dumps({"keys": [public]}, indent=2) + "\n", encoding="utf-8")
    block = f'[[auth.issuers]]\niss = {json.dumps(iss)}\njwks_file = {json.dumps(str((folder / JWKS).resolve()))}\n'
    (folder / ISSUER_TOML).write_text(block, encoding="utf-8")
    return block


def mint(folder: Path, aud: str, *, now: float | None = None, lifetime_seconds: int = 300) -> str:
    """A JWT signed with the key in `folder` for a call to `aud`."""
    try:
        key = serialization.load_pem_private_key((folder / PRIVATE_KEY).read_bytes(), password=None)
        kid = json.loads((folder / JWKS).read_text(encoding="utf-8"))["keys"][0]["kid"]
        iss = tomllib.loads((folder / ISSUER_TOML).read_text(encoding="utf-8"))["auth"]["issuers"][0]["iss"]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise ToolkitError(f"{folder} is not a folder made by `token --new-key` ({type(exc).__name__}: {exc})",
                           EXIT_USAGE) from None
    issued = int(now if now is not None else time.time())
    claims = {"iss": iss, "sub": SUB, "aud": aud, "iat": issued, "exp": issued + lifetime_seconds,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm=ALG, headers={"kid": kid, "typ": "JWT"})  # type: ignore[arg-type]




def run_token(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        if args.new_key:
            block = new_key(Path(args.new_key), args.iss)
            print(f"Test issuer written to {args.new_key}. Add to the service's configuration:\n\n{block}\n"
                  f"then: sirolimus-cds token --key {args.new_key} --aud URL", file=out)
            return EXIT_OK
        if not args.aud:
            raise ToolkitError("--aud URL is required with --key (the exact URL the token is for)", EXIT_USAGE)
        print(mint(Path(args.key), args.aud, lifetime_seconds=args.lifetime), file=out)
        return EXIT_OK
    except ToolkitError as exc:
        print(f"token: {exc.message}", file=err)
        return exc.status
