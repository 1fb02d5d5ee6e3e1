#!/usr/bin/env python3
"""Independent generator of the confide/smpc known-answer vectors.

Written against the normative descriptions in README.md, NOT by porting the TypeScript code, and
using pyca/cryptography (OpenSSL) for HKDF, AES-256-CTR, ChaCha20 and ChaCha20-Poly1305, so the
vectors check the TypeScript implementation against a second implementation in another language.

Run:  python3 test/vectors/smpc/generate_vectors.py   (needs `cryptography`; tested with 48.0.0)
It rewrites kdf.json, prg.json, shamir.json, envelope.json, session.json and wire.json in this directory. All inputs are
derived from fixed labels, so re-running produces identical files.
"""
import hashlib
import json
import os
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HERE = os.path.dirname(os.path.abspath(__file__))


def det(label: str, n: int) -> bytes:
    """n deterministic bytes for a label (SHA-256 in counter mode; only for making test inputs)."""
    out = b""
    i = 0
    while len(out) < n:
        out += hashlib.sha256(f"confide-kat/{label}/{i}".encode()).digest()
        i += 1
    return out[:n]


def lp(*parts: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in parts)


def write(name: str, obj) -> None:
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# ---------------------------------------------------------------- KDF (README §KDF)
def derive_key(secret: bytes, session_id: bytes, purpose: str, length: int) -> bytes:
    info = ("secagg/v1/" + purpose).encode()
    return HKDF(hashes.SHA256(), length, session_id, info).derive(secret)


kdf_cases = []
for i, (purpose, slen, length) in enumerate(
    [("envelope", 32, 32), ("mask/pairwise", 32, 32), ("mask/self", 32, 32),
     ("additive-share", 32, 32), ("mask/pairwise:weights.layer1", 48, 64), ("x", 16, 100)]
):
    secret = det(f"kdf/secret/{i}", slen)
    session_id = det(f"kdf/session/{i}", 32)
    kdf_cases.append({
        "secret": secret.hex(), "sessionId": session_id.hex(), "purpose": purpose,
        "length": length, "okm": derive_key(secret, session_id, purpose, length).hex(),
    })
write("kdf.json", {"description": "HKDF-SHA256(ikm=secret, salt=sessionId, info='secagg/v1/'+purpose, L=length)",
                   "cases": kdf_cases})


# ---------------------------------------------------------------- PRG (README §PRG)
def stream(algorithm: str, key: bytes, j: int, offset: int, length: int) -> bytes:
    if algorithm == "aes-256-ctr":
        first, skip = divmod(offset, 16)
        counter = j.to_bytes(8, "big") + first.to_bytes(8, "big")
        enc = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
        nblocks = (skip + length + 15) // 16
    else:
        first, skip = divmod(offset, 64)
        # pyca's ChaCha20 takes a 16-byte nonce: LE32 block counter || 12-byte RFC 8439 nonce
        nonce = first.to_bytes(4, "little") + b"\0\0\0\0" + j.to_bytes(8, "big")
        enc = Cipher(algorithms.ChaCha20(key, nonce), None).encryptor()
        nblocks = (skip + length + 63) // 64 * 4
    ks = enc.update(bytes(16 * nblocks))
    return ks[skip:skip + length]


def expand(algorithm: str, key: bytes, modulus: int, start: int, length: int):
    if modulus & (modulus - 1) == 0:
        ks = stream(algorithm, key, 0, 4 * start, 4 * length)
        return [struct.unpack_from("<I", ks, 4 * i)[0] & (modulus - 1) for i in range(length)], 0
    threshold = 2**32 - (2**32 % modulus)
    out, max_attempt = [], 0
    for i in range(start, start + length):
        j = 0
        while True:
            block = stream(algorithm, key, j, 16 * i, 16)
            cands = struct.unpack("<4I", block)
            ok = [r for r in cands if r < threshold]
            if ok:
                out.append(ok[0] % modulus)
                max_attempt = max(max_attempt, j)
                break
            j += 1
    return out, max_attempt


prg_cases = []
for i, (algorithm, modulus, start, length) in enumerate([
    ("aes-256-ctr", 2**32, 0, 16), ("aes-256-ctr", 2**32, 5, 11), ("aes-256-ctr", 2**20, 0, 16),
    ("aes-256-ctr", 2, 3, 16), ("aes-256-ctr", 10, 0, 16), ("aes-256-ctr", 2**32 - 1, 7, 9),
    ("aes-256-ctr", 2**31 + 11, 0, 64), ("aes-256-ctr", 2**31 + 1, 1000, 64),
    ("chacha20", 2**32, 0, 16), ("chacha20", 2**32, 13, 19), ("chacha20", 2**16, 0, 16),
    ("chacha20", 1000003, 0, 16), ("chacha20", 2**31 + 1, 60, 64),
]):
    key = det(f"prg/key/{i}", 32)
    out, max_attempt = expand(algorithm, key, modulus, start, length)
    prg_cases.append({"algorithm": algorithm, "key": key.hex(), "modulus": modulus, "start": start,
                      "length": length, "output": out, "maxAttempt": max_attempt})
streams = []
for algorithm in ("aes-256-ctr", "chacha20"):
    key = det(f"prg/stream/{algorithm}", 32)
    for j, offset in [(0, 0), (0, 100), (1, 0), (2**32 + 5, 48)]:
        streams.append({"algorithm": algorithm, "key": key.hex(), "stream": j, "offset": offset,
                        "bytes": stream(algorithm, key, j, offset, 80).hex()})
write("prg.json", {"description": "Mask PRG: see README.md §PRG for the stream layout and sampling",
                   "streams": streams, "cases": prg_cases})


# ---------------------------------------------------------------- Shamir (README §Shamir)
P = 2**256 + 297
LABEL = b"secagg/v1/shamir-commitment"
sh_cases = []
for i, (t, n) in enumerate([(2, 3), (3, 5), (5, 9), (10, 12)]):
    secret = det(f"shamir/secret/{i}", 32)
    if i == 3:
        secret = b"\xff" * 32  # the largest secret: 2^256 - 1 < p
    coeffs = [int.from_bytes(det(f"shamir/coeff/{i}/{k}", 40), "big") % P for k in range(1, t)]
    s = int.from_bytes(secret, "big")
    shares = []
    for x in range(1, n + 1):
        y = s + sum(c * x**k for k, c in enumerate(coeffs, start=1))
        shares.append({"index": x, "value": (y % P).to_bytes(33, "big").hex()})
    context = det(f"shamir/context/{i}", 16 * i)
    commitment = hashlib.sha256(lp(LABEL, context, secret)).hexdigest()
    sh_cases.append({"secret": secret.hex(), "threshold": t, "shareCount": n,
                     "coefficients": [c.to_bytes(33, "big").hex() for c in coeffs],
                     "shares": shares, "context": context.hex(), "commitment": commitment})
write("shamir.json", {"description": "Shamir over p = 2^256 + 297; commitment = SHA-256(LP(label) || LP(context) || LP(secret))",
                      "prime": hex(P), "cases": sh_cases})


# ---------------------------------------------------------------- Envelope (README §Envelope)
env_cases = []
for i, (rnd, sender, recipient, ptlen) in enumerate([(1, "alice", "bob", 66), (4, "client-17", "client-3", 0),
                                                     (2, "ü-ñ", "客户", 200)]):
    key = det(f"env/key/{i}", 32)
    nonce = det(f"env/nonce/{i}", 12)
    session_id = det(f"env/session/{i}", 32)
    pt = det(f"env/pt/{i}", ptlen)
    ad = lp(b"secagg/v1/envelope", b"\x01", session_id) + struct.pack(">I", rnd) + lp(sender.encode(), recipient.encode())
    env = b"\x01" + nonce + ChaCha20Poly1305(key).encrypt(nonce, pt, ad)
    env_cases.append({"key": key.hex(), "nonce": nonce.hex(), "sessionId": session_id.hex(), "round": rnd,
                      "sender": sender, "recipient": recipient, "plaintext": pt.hex(),
                      "associatedData": ad.hex(), "envelope": env.hex()})
write("envelope.json", {"description": "ChaCha20-Poly1305 share envelopes; see README.md §Envelope", "cases": env_cases})


# ---------------------------------------------------------------- Session id (README §Session id)
sess_cases = []
for i, ids in enumerate([["alice", "bob", "carol"], ["10", "9", "100", "1"], ["z", "é", "\U0001F600", "\uFFFD", "a"]]):
    roster = [{"id": pid, "encryptionKey": det(f"sess/{i}/c/{pid}", 32).hex(), "maskingKey": det(f"sess/{i}/s/{pid}", 32).hex()}
              for pid in ids]
    context = det(f"sess/context/{i}", 8 * i)
    ordered = sorted(roster, key=lambda e: e["id"].encode("utf-8"))
    data = lp(b"secagg/v1/session", context) + struct.pack(">I", len(roster))
    for e in ordered:
        data += lp(e["id"].encode("utf-8"), bytes.fromhex(e["encryptionKey"]), bytes.fromhex(e["maskingKey"]))
    sess_cases.append({"roster": roster, "context": context.hex(), "order": [e["id"] for e in ordered],
                       "sessionId": hashlib.sha256(data).hexdigest()})
write("session.json", {"description": "Session id: see README.md §Session id", "cases": sess_cases})


# ---------------------------------------------------------------- Wire format (README §Wire format)
PROFILES = ["honest-but-curious", "semi-malicious", "active"]
GRAPHS = ["complete", "harary"]
PRGS = ["aes-256-ctr", "chacha20"]
TYPES = {
    "advertise-request": 0x01, "share-keys-request": 0x02, "masked-input-request": 0x03,
    "consistency-request": 0x04, "unmask-request": 0x05, "advertise": 0x11, "share-keys": 0x12,
    "masked-input": 0x13, "consistency": 0x14, "unmask": 0x15, "abort": 0x7F,
}


def w_str(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b


def w_bytes(hexstr: str) -> bytes:
    b = bytes.fromhex(hexstr)
    return struct.pack(">H", len(b)) + b


def w_ids(ids) -> bytes:
    return struct.pack(">I", len(ids)) + b"".join(w_str(i) for i in ids)


def w_opt(hexstr) -> bytes:
    return b"\x00" if hexstr is None else b"\x01" + w_bytes(hexstr)


def w_lanes(lanes) -> bytes:
    width = max(1, max(lanes, default=0).bit_length())
    acc = 0
    for i, x in enumerate(lanes):
        acc |= x << (i * width)
    nbytes = (len(lanes) * width + 7) // 8
    return bytes([width]) + struct.pack(">I", len(lanes)) + acc.to_bytes(nbytes, "little")


def w_list(items, each) -> bytes:
    return struct.pack(">I", len(items)) + b"".join(each(x) for x in items)


def encode_message(m) -> bytes:
    t = m["type"]
    out = b"SA" + bytes([1, TYPES[t]])
    if t == "advertise-request":
        p = m["params"]
        out += (w_str(p["roundId"]) + bytes([PROFILES.index(p["profile"])]) + w_ids(p["clients"])
                + struct.pack(">I", p["threshold"]) + bytes([GRAPHS.index(p["graph"])])
                + struct.pack(">I", p["degree"]) + w_bytes(p["graphSeed"]) + bytes([p["ringBits"]])
                + struct.pack(">I", p["vectorLength"]) + bytes([PRGS.index(p["prg"])]))
    elif t == "share-keys-request":
        out += w_list(m["roster"], lambda e: w_str(e["id"]) + w_bytes(e["encryptionKey"])
                      + w_bytes(e["maskingKey"]) + w_opt(e["signature"]))
    elif t == "masked-input-request":
        out += w_list(m["envelopes"], lambda e: w_str(e["from"]) + w_bytes(e["ciphertext"]))
    elif t == "consistency-request":
        out += w_ids(m["survivors"])
    elif t == "unmask-request":
        out += (w_list(m["signatures"], lambda e: w_str(e["id"]) + w_bytes(e["signature"]))
                + w_ids(m["survivors"]) + w_ids(m["dropped"]))
    elif t == "advertise":
        out += w_bytes(m["encryptionKey"]) + w_bytes(m["maskingKey"]) + w_opt(m["signature"])
    elif t == "share-keys":
        out += (w_bytes(m["selfMaskCommitment"]) + w_bytes(m["maskingKeyCommitment"])
                + w_list(m["envelopes"], lambda e: w_str(e["to"]) + w_bytes(e["ciphertext"])))
    elif t == "masked-input":
        out += w_ids(m["peers"]) + w_ids(m["complaints"]) + w_lanes(m["masked"])
    elif t == "consistency":
        out += w_bytes(m["signature"])
    elif t == "unmask":
        for field in ("selfMaskShares", "maskingKeyShares"):
            out += w_list(m[field], lambda s: w_str(s["owner"]) + struct.pack(">I", s["index"]) + w_bytes(s["value"]))
    elif t == "abort":
        out += w_str(m["code"]) + w_str(m["reason"])
    return out


def h(label: str, n: int) -> str:
    return det(f"wire/{label}", n).hex()


wire_messages = [
    {"v": 1, "type": "advertise-request", "params": {
        "roundId": "round-7/model:ab12", "profile": "semi-malicious",
        "clients": ["alice", "bob", "carol", "dave", "\u00e9mile"], "threshold": 3, "graph": "harary",
        "degree": 4, "graphSeed": h("seed", 32), "ringBits": 20, "vectorLength": 3, "prg": "chacha20"}},
    {"v": 1, "type": "share-keys-request", "roster": [
        {"id": "alice", "encryptionKey": h("a/enc", 32), "maskingKey": h("a/mask", 32), "signature": None},
        {"id": "bob", "encryptionKey": h("b/enc", 32), "maskingKey": h("b/mask", 32), "signature": h("b/sig", 64)}]},
    {"v": 1, "type": "masked-input-request", "envelopes": [
        {"from": "bob", "ciphertext": h("env/b", 139)}, {"from": "carol", "ciphertext": h("env/c", 141)}]},
    {"v": 1, "type": "consistency-request", "survivors": ["alice", "bob", "\U0001F600"]},
    {"v": 1, "type": "unmask-request", "signatures": [{"id": "bob", "signature": h("u/sig", 64)}],
     "survivors": ["alice", "bob"], "dropped": ["carol"]},
    {"v": 1, "type": "advertise", "encryptionKey": h("adv/enc", 32), "maskingKey": h("adv/mask", 32), "signature": None},
    {"v": 1, "type": "share-keys", "selfMaskCommitment": h("sk/b", 32), "maskingKeyCommitment": h("sk/s", 32),
     "envelopes": [{"to": "bob", "ciphertext": h("sk/env/b", 139)}, {"to": "dave", "ciphertext": h("sk/env/d", 139)}]},
    {"v": 1, "type": "masked-input", "peers": ["bob", "dave"], "complaints": ["carol"],
     "masked": [0, 1, 0xFFFFFFFF, 0x12345678, 0x9ABCDEF0]},
    {"v": 1, "type": "masked-input", "peers": ["bob"], "complaints": [],
     "masked": [1, 0xFFFFF, 0x54321, 0, 7]},
    {"v": 1, "type": "masked-input", "peers": [], "complaints": [], "masked": [0, 0, 0]},
    {"v": 1, "type": "masked-input", "peers": ["x"], "complaints": [], "masked": []},
    {"v": 1, "type": "consistency", "signature": h("cons", 64)},
    {"v": 1, "type": "unmask", "selfMaskShares": [{"owner": "bob", "index": 2, "value": h("sh/b", 33)}],
     "maskingKeyShares": [{"owner": "carol", "index": 1, "value": h("sh/c", 33)}]},
    {"v": 1, "type": "abort", "code": "SMPC_TOO_FEW_CLIENTS", "reason": "cl\u00e9 \U0001F511 missing"},
]
write("wire.json", {"description": "Binary wire format of SecAgg+ messages: see README.md §Wire format",
                    "cases": [{"message": m, "encoded": encode_message(m).hex()} for m in wire_messages]})
print("wrote kdf.json prg.json shamir.json envelope.json session.json wire.json")
