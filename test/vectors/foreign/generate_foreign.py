#!/usr/bin/env python3
"""Writes DSSE-signed in-toto v1 statements the way other producers do (pretty-printed JSON, not
RFC 8785 canonical), with pyca/cryptography only, so confide's lineage verifier is tested against
envelopes it did not write.

Built from the public specs, not from confide's code:
- DSSE v1.0.2 protocol.md: PAE = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body;
- in-toto attestation spec v1 (statement.md, resource_descriptor.md);
- SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance);
- SPDX 2.3 JSON inside an in-toto statement (predicate type https://spdx.dev/Document/v2.3);
- in-toto Statement v0.1 with a SLSA provenance v0.2 predicate, as older SLSA generators write it.

Keys are derived from fixed labels, so the public keys are stable across runs; Ed25519 signatures
are deterministic, ECDSA ones are not (OpenSSL draws a random nonce), so regenerating changes the
ECDSA signature bytes but not what verifies. Run from this directory: python3 generate_foreign.py
"""

import base64
import hashlib
import json
import pathlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

HERE = pathlib.Path(__file__).resolve().parent
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def pae(payload_type: str, body: bytes) -> bytes:
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(body), body)


def seed(label: str) -> bytes:
    return hashlib.sha256(("confide foreign vectors: " + label).encode()).digest()


def spki_pem(public_key) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def envelope(statement: dict, sign, keyid: str) -> str:
    # Pretty-printed, keys in the producer's order: ordinary JSON, not canonical.
    body = (json.dumps(statement, indent=2) + "\n").encode("utf-8")
    sig = sign(pae(PAYLOAD_TYPE, body))
    env = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(body).decode("ascii"),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(sig).decode("ascii")}],
    }
    return json.dumps(env, indent=2) + "\n"


def main() -> None:
    builder = ed25519.Ed25519PrivateKey.from_private_bytes(seed("builder"))
    sbom_scalar = int.from_bytes(seed("sbom"), "big") % (
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551 - 1
    ) + 1
    sbom = ec.derive_private_key(sbom_scalar, ec.SECP256R1())
    legacy_scalar = int.from_bytes(seed("legacy") + seed("legacy2")[:16], "big") % (
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973 - 1
    ) + 1
    legacy = ec.derive_private_key(legacy_scalar, ec.SECP384R1())

    raw = b"id,age,outcome\n1,54,0\n2,61,1\n3,47,0\n"
    (HERE / "raw.csv").write_bytes(raw)
    raw_sha256 = hashlib.sha256(raw).hexdigest()
    raw_sha512 = hashlib.sha512(raw).hexdigest()

    slsa = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "raw.csv", "digest": {"sha256": raw_sha256, "sha512": raw_sha512}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://example.org/hospital-etl/v1",
                "externalParameters": {"query": "SELECT id, age, outcome FROM cohort_7"},
                "resolvedDependencies": [
                    {
                        "uri": "git+https://example.org/etl@refs/heads/main",
                        "digest": {"gitCommit": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"},
                    }
                ],
            },
            "runDetails": {
                "builder": {"id": "https://example.org/builders/etl-runner@v2"},
                "metadata": {
                    "invocationId": "run-2026-12-01-0007",
                    "startedOn": "2026-12-01T08:00:00Z",
                    "finishedOn": "2026-12-01T08:04:11Z",
                },
            },
        },
    }
    spdx = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "raw.csv", "digest": {"sha256": raw_sha256}}],
        "predicateType": "https://spdx.dev/Document/v2.3",
        "predicate": {
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "cohort-7-extract",
            "documentNamespace": "https://example.org/spdx/cohort-7-extract-2026-12-01",
            "creationInfo": {"created": "2026-12-01T08:05:00Z", "creators": ["Tool: generate_foreign.py"]},
            "files": [
                {
                    "SPDXID": "SPDXRef-File-raw.csv",
                    "fileName": "./raw.csv",
                    "checksums": [{"algorithm": "SHA256", "checksumValue": raw_sha256}],
                }
            ],
        },
    }

    legacy_slsa = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "raw.csv", "digest": {"sha256": raw_sha256}}],
        "predicate": {
            "builder": {"id": "https://example.org/builders/legacy-runner@v1"},
            "buildType": "https://example.org/hospital-etl/v0",
            "invocation": {"configSource": {"uri": "git+https://example.org/etl", "entryPoint": "extract"}},
            "metadata": {"buildFinishedOn": "2026-12-01T08:04:11Z", "reproducible": False},
        },
    }
    (HERE / "legacy-ecdsa-p384.pub.pem").write_bytes(spki_pem(legacy.public_key()))
    (HERE / "slsa-v02-statement-v01.intoto.json").write_text(
        envelope(legacy_slsa, lambda m: legacy.sign(m, ec.ECDSA(hashes.SHA384())), "legacy-ecdsa-p384")
    )
    (HERE / "builder-ed25519.pub.pem").write_bytes(spki_pem(builder.public_key()))
    (HERE / "sbom-ecdsa-p256.pub.pem").write_bytes(spki_pem(sbom.public_key()))
    (HERE / "slsa-provenance.intoto.json").write_text(
        envelope(slsa, builder.sign, "builder-ed25519")
    )
    (HERE / "spdx-sbom.intoto.json").write_text(
        envelope(spdx, lambda m: sbom.sign(m, ec.ECDSA(hashes.SHA256())), "sbom-ecdsa-p256")
    )


if __name__ == "__main__":
    main()
