#!/usr/bin/env python3
"""Writes cases.json: certificate chains with one defect each, as model_signing v1 bundles.

An independent generator for confide's certificate path validator (src/provenance/certificate-path.ts):
the certificates are built by pyca/cryptography; defects cryptography refuses to build (BER,
non-minimal OIDs, a tbsCertificate whose inner algorithm differs from the outer one, duplicate
extensions, a v1 certificate) are made by editing the DER of the tbsCertificate with the small
reader/writer below and signing the edited bytes again with the issuer's private key.

Every case signs the same DSSE payload (the statement of model_signing's v1.1.0-certificate test
bundle, so the valid cases verify end to end) with the case's leaf key, and records:
  expected      'accept' or the confide error code;
  openssl       'accept' or 'reject': what `openssl verify -x509_strict` concludes (the test checks it);
  why           when openssl and confide disagree, the reason.

Run from the repository root:  python3 test/vectors/pki/generate.py
Keys and signatures are random: every run writes different bytes with the same conclusions.
"""

import base64
import datetime as dt
import json
import pathlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = pathlib.Path(__file__).resolve().parent
SOURCE_BUNDLE = HERE.parent / "interop/model-signing/scripts/tests/v1.1.0-certificate/model.sig"

UTC = dt.timezone.utc
CA_FROM = dt.datetime(2025, 1, 1, tzinfo=UTC)
CA_TO = dt.datetime(2035, 1, 1, tzinfo=UTC)
LEAF_FROM = dt.datetime(2026, 1, 1, tzinfo=UTC)  # the signing time confide uses: the leaf's notBefore
LEAF_TO = dt.datetime(2027, 1, 1, tzinfo=UTC)


# --- A minimal DER tree (tag, content or children), for the edits cryptography will not make ---


def der_len(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag, content):
    return bytes([tag]) + der_len(len(content)) + content


def parse(data):
    """One element -> (tag, list of children) when constructed, else (tag, bytes)."""
    tag, length_byte = data[0], data[1]
    if length_byte < 0x80:
        length, offset = length_byte, 2
    else:
        count = length_byte & 0x7F
        length, offset = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    content = data[offset : offset + length]
    assert offset + length == len(data), "trailing bytes"
    if tag & 0x20:
        items, i = [], 0
        while i < len(content):
            lb = content[i + 1]
            n = 2 + (lb & 0x7F) if lb & 0x80 else 2
            ln = int.from_bytes(content[i + 2 : i + n], "big") if lb & 0x80 else lb
            items.append(parse(content[i : i + n + ln]))
            i += n + ln
        return (tag, items)
    return (tag, content)


def encode(node):
    tag, value = node
    if isinstance(value, list):
        return tlv(tag, b"".join(encode(v) for v in value))
    if isinstance(value, RawBytes):
        return bytes(value)
    return tlv(tag, value)


class RawBytes(bytes):
    """An element written as given (for deliberately non-DER encodings)."""


def tbs_fields(cert):
    return parse(cert.tbs_certificate_bytes)


def extensions_of(tbs):
    wrapper = next(f for f in tbs[1] if f[0] == 0xA3)
    return wrapper[1][0][1]  # the SEQUENCE OF Extension


def extension(tbs, oid_der):
    return next(e for e in extensions_of(tbs) if encode(e[1][0]) == oid_der)


OID_BASIC_CONSTRAINTS = tlv(0x06, bytes.fromhex("551d13"))
OID_SUBJECT_KEY_ID = tlv(0x06, bytes.fromhex("551d0e"))
ECDSA_SHA256 = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d040302")))
ECDSA_SHA384 = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d040303")))
ECDSA_SHA1 = tlv(0x30, tlv(0x06, bytes.fromhex("2a8648ce3d0401")))


def resign(tbs_der, issuer_key, outer_algorithm=ECDSA_SHA256, digest=None):
    """A certificate around the given tbsCertificate bytes, signed again by issuer_key."""
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        signature = issuer_key.sign(tbs_der)
    else:
        signature = issuer_key.sign(tbs_der, ec.ECDSA(digest or hashes.SHA256()))
    return tlv(0x30, tbs_der + outer_algorithm + tlv(0x03, b"\x00" + signature))


# --- Certificates ---


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_key(kind="p256"):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())


def key_usage(digital_signature=False, key_cert_sign=False, key_encipherment=False):
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


class Cert:
    def __init__(self, cn, key, issuer=None, ca=True, path_len=None, bc=True, ku="default", eku="default",
                 not_before=None, not_after=None, extra=(), skip_aki=False, digest=None):
        self.cn, self.key = cn, key
        issuer = issuer or self
        leaf = not ca
        b = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(name(issuer.cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or (LEAF_FROM if leaf else CA_FROM))
            .not_valid_after(not_after or (LEAF_TO if leaf else CA_TO))
        )
        if bc:
            b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_len if ca else None), critical=True)
        if ku == "default":
            ku = key_usage(digital_signature=True) if leaf else key_usage(key_cert_sign=True)
        if ku is not None:
            b = b.add_extension(ku, critical=True)
        if eku == "default":
            eku = [ExtendedKeyUsageOID.CODE_SIGNING] if leaf else None
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        if issuer is not self and not skip_aki:
            b = b.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
            )
        for ext, critical in extra:
            b = b.add_extension(ext, critical=critical)
        algorithm = None if isinstance(issuer.key, ed25519.Ed25519PrivateKey) else (digest or hashes.SHA256())
        self.issuer = issuer
        if isinstance(issuer.key, rsa.RSAPrivateKey):  # RSASSA-PSS (RFC 4055), salt as long as the hash
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            self.cert = b.sign(issuer.key, algorithm, rsa_padding=pss)
        else:
            self.cert = b.sign(issuer.key, algorithm)
        self.der = self.cert.public_bytes(serialization.Encoding.DER)

    def edited(self, edit):
        """This certificate with its tbsCertificate edited by `edit(tree)` and signed again."""
        tree = tbs_fields(self.cert)
        edit(tree)
        self.der = resign(encode(tree), self.issuer.key)
        return self

    def patched(self, old, new, outer=ECDSA_SHA256):
        """This certificate with bytes of its tbsCertificate replaced (same length) and signed again."""
        tbs = self.cert.tbs_certificate_bytes
        assert tbs.count(old) >= 1, (self.cn, old.hex())
        self.der = resign(tbs.replace(old, new, 1), self.issuer.key, outer)
        return self


def pem(der):
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def bundle(leaf, chain):
    source = json.loads(SOURCE_BUNDLE.read_text())
    envelope = source["dsseEnvelope"]
    payload = base64.b64decode(envelope["payload"])
    signature = leaf.key.sign(pae(envelope["payloadType"], payload), ec.ECDSA(hashes.SHA256()))
    return {
        "mediaType": source["mediaType"],
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": [{"rawBytes": base64.b64encode(c.der).decode()} for c in chain]},
            "tlogEntries": [],
        },
        "dsseEnvelope": {
            "payload": envelope["payload"],
            "payloadType": envelope["payloadType"],
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }


CASES = []


def case(case_id, description, expected, chain, anchors, openssl=None, why=None):
    """chain: leaf first. openssl defaults to confide's conclusion (agreement)."""
    entry = {
        "id": case_id,
        "description": description,
        "expected": expected,
        "openssl": openssl or ("accept" if expected == "accept" else "reject"),
        "bundle": json.dumps(bundle(chain[0], chain)),
        "anchors": "".join(pem(a.der) for a in anchors),
        "at": LEAF_FROM.isoformat().replace("+00:00", "Z"),
    }
    if why:
        entry["why"] = why
    CASES.append(entry)


def main():
    root = Cert("pki-root", new_key())
    inter = Cert("pki-intermediate", new_key(), root)

    def leaf(**kw):
        return Cert("pki-leaf", new_key(), kw.pop("issuer", inter), ca=False, **kw)

    # Accepted chains (controls).
    case("valid", "root -> intermediate -> leaf (ECDSA P-256), KU digitalSignature, EKU codeSigning",
         "accept", [leaf(), inter], [root])
    ed_root = Cert("pki-ed-root", new_key("ed25519"))
    ed_inter = Cert("pki-ed-intermediate", new_key("ed25519"), ed_root)
    case("valid-ed25519-cas", "Ed25519 root and intermediate (the @noble/curves backend), P-256 leaf",
         "accept", [leaf(issuer=ed_inter), ed_inter], [ed_root])
    i1 = Cert("pki-int-1", new_key(), root, path_len=1)
    i2 = Cert("pki-int-2", new_key(), i1, path_len=0)
    case("valid-path-len", "two intermediates under pathLenConstraint 1 and 0", "accept",
         [leaf(issuer=i2), i2, i1], [root])

    pss_root = Cert("pki-pss-root", new_key("rsa"))
    pss_inter = Cert("pki-pss-intermediate", new_key("rsa"), pss_root)
    case("valid-rsa-pss", "RSA root and intermediate signing with RSASSA-PSS (SHA-256), P-256 leaf",
         "accept", [leaf(issuer=pss_inter), pss_inter], [pss_root])

    # basicConstraints and pathLenConstraint.
    no_bc = Cert("pki-intermediate", new_key(), root, bc=False)
    case("intermediate-no-basic-constraints", "the intermediate has no basicConstraints",
         "PROV_CERT_NOT_CA", [leaf(issuer=no_bc), no_bc], [root])
    not_ca = Cert("pki-intermediate", new_key(), root, ca=False, ku=key_usage(key_cert_sign=True), eku=None)
    case("intermediate-ca-false", "the intermediate has basicConstraints cA FALSE",
         "PROV_CERT_NOT_CA", [leaf(issuer=not_ca), not_ca], [root])
    j1 = Cert("pki-int-1", new_key(), root, path_len=0)
    j2 = Cert("pki-int-2", new_key(), j1)
    case("path-len-exceeded", "an intermediate with pathLenConstraint 0 issued another intermediate",
         "PROV_CERT_PATH_LEN", [leaf(issuer=j2), j2, j1], [root])
    root0 = Cert("pki-root-0", new_key(), path_len=0)
    k1 = Cert("pki-int-1", new_key(), root0)
    k2 = Cert("pki-int-2", new_key(), k1)
    case("anchor-path-len-exceeded", "the trust anchor's pathLenConstraint 0 with two intermediates below",
         "PROV_CERT_PATH_LEN", [leaf(issuer=k2), k2, k1], [root0])

    # keyUsage and extendedKeyUsage.
    ku_int = Cert("pki-intermediate", new_key(), root, ku=key_usage(digital_signature=True))
    case("intermediate-no-key-cert-sign", "the intermediate's keyUsage lacks keyCertSign",
         "PROV_CERT_KEY_USAGE", [leaf(issuer=ku_int), ku_int], [root])
    ku_root = Cert("pki-root-ku", new_key(), ku=key_usage(digital_signature=True))
    ku_root_int = Cert("pki-intermediate", new_key(), ku_root)
    case("anchor-no-key-cert-sign", "the trust anchor's keyUsage lacks keyCertSign",
         "PROV_CERT_KEY_USAGE", [leaf(issuer=ku_root_int), ku_root_int], [ku_root])
    case("leaf-no-digital-signature", "the leaf's keyUsage is keyEncipherment only (EKU codeSigning)",
         "PROV_CERT_KEY_USAGE", [leaf(ku=key_usage(key_encipherment=True)), inter], [root],
         openssl="accept",
         why="openssl verify checks no purpose unless -purpose is given; confide requires digitalSignature for a signing key (RFC 5280 §4.2.1.3)")
    case("leaf-eku-server-auth", "the leaf's extendedKeyUsage is serverAuth only",
         "PROV_CERT_EXT_KEY_USAGE", [leaf(eku=[ExtendedKeyUsageOID.SERVER_AUTH]), inter], [root],
         openssl="accept",
         why="openssl verify checks no purpose unless -purpose is given; confide requires codeSigning when an EKU is present (RFC 5280 §4.2.1.12)")
    case("leaf-no-usage", "the leaf has neither keyUsage nor extendedKeyUsage",
         "PROV_CERTIFICATE_USAGE", [leaf(ku=None, eku=None), inter], [root],
         openssl="accept",
         why="model_signing's leaf profile (digitalSignature or codeSigning) is not an X.509 rule; openssl verify does not apply it")

    # Critical extensions.
    private = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00")
    case("leaf-unknown-critical-extension", "the leaf carries an unknown critical extension",
         "PROV_CERT_CRITICAL_EXTENSION", [leaf(extra=[(private, True)]), inter], [root])
    nc = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    nc_int = Cert("pki-intermediate", new_key(), root, extra=[(nc, True)])
    case("intermediate-name-constraints", "the intermediate carries critical nameConstraints",
         "PROV_CERT_CRITICAL_EXTENSION", [leaf(issuer=nc_int), nc_int], [root],
         openssl="accept",
         why="openssl processes nameConstraints (the leaf has no DNS name to violate them); confide does not implement nameConstraints and refuses them when critical")
    policies = x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.5.29.32.0"), None)])
    case("leaf-critical-policies", "the leaf carries critical certificatePolicies",
         "PROV_CERT_CRITICAL_EXTENSION", [leaf(extra=[(policies, True)]), inter], [root],
         openssl="accept",
         why="openssl processes certificatePolicies; confide does not implement policy processing and refuses it when critical")

    # Algorithms and signatures.
    case("leaf-algorithm-mismatch", "tbsCertificate.signature says ecdsa-with-SHA384, the outer algorithm ecdsa-with-SHA256",
         "PROV_CERT_ALGORITHM_MISMATCH", [leaf().patched(ECDSA_SHA256, ECDSA_SHA384), inter], [root])
    case("leaf-ecdsa-sha224", "the leaf is signed with ecdsa-with-SHA224",
         "PROV_CERT_ALGORITHM_UNSUPPORTED", [leaf(digest=hashes.SHA224()), inter], [root],
         openssl="accept",
         why="confide verifies certificate signatures with WebCrypto, which has no SHA-224; OpenSSL does")
    sha1_inter = Cert("pki-intermediate", new_key(), root)
    sha1_tbs = tbs_fields(sha1_inter.cert)
    sha1_tbs[1][2] = (0x30, RawBytes(ECDSA_SHA1))  # tbsCertificate.signature (cryptography will not sign SHA-1)
    sha1_inter.der = resign(encode(sha1_tbs), root.key, ECDSA_SHA1, hashes.SHA1())
    case("intermediate-sha1", "the root signed the intermediate with ecdsa-with-SHA1",
         "PROV_CERT_ALGORITHM_UNSUPPORTED", [leaf(issuer=sha1_inter), sha1_inter], [root],
         openssl="accept",
         why="OpenSSL accepts SHA-1 certificate signatures at its default security level; confide refuses them (chosen-prefix SHA-1 collisions are practical)")
    broken = leaf()
    der = bytearray(broken.der)
    der[-5] ^= 0x01
    broken.der = bytes(der)
    case("leaf-bad-signature", "one bit of the leaf's signature flipped",
         "PROV_CERT_SIGNATURE_INVALID", [broken, inter], [root])
    other_root = Cert("pki-root", new_key())
    case("wrong-anchor", "the anchor has the root's name but another key (its key identifier differs)",
         "PROV_CERTIFICATE_CHAIN_INVALID", [leaf(), inter], [other_root])

    # Validity at the signing time (the leaf's notBefore, 2026-01-01).
    old_int = Cert("pki-intermediate", new_key(), root, not_after=dt.datetime(2025, 12, 1, tzinfo=UTC))
    case("intermediate-expired", "the intermediate expired a month before the leaf's notBefore",
         "PROV_CERT_EXPIRED", [leaf(issuer=old_int), old_int], [root])
    new_int = Cert("pki-intermediate", new_key(), root, not_before=dt.datetime(2026, 6, 1, tzinfo=UTC))
    case("intermediate-not-yet-valid", "the intermediate's notBefore is after the leaf's notBefore",
         "PROV_CERT_NOT_YET_VALID", [leaf(issuer=new_int), new_int], [root])

    # DER, not BER.
    def non_minimal_length(c):
        tbs = c.cert.tbs_certificate_bytes
        assert tbs[1] == 0x82, tbs[:4].hex()  # 30 82 LL LL: written again as 30 83 00 LL LL
        c.der = resign(b"\x30\x83\x00" + tbs[2:], c.issuer.key)
        return c

    case("leaf-ber-length", "the leaf's tbsCertificate length in a non-minimal long form",
         "PROV_CERT_NOT_DER", [non_minimal_length(leaf()), inter], [root],
         openssl="accept",
         why="OpenSSL's decoder accepts the non-minimal length (and verifies the signature over the bytes as received)")

    def indefinite(c):
        tree = tbs_fields(c.cert)
        body = b"".join(encode(f) for f in tree[1])
        c.der = resign(b"\x30\x80" + body + b"\x00\x00", c.issuer.key)
        return c

    case("leaf-ber-indefinite", "the leaf's tbsCertificate in indefinite-length form",
         "PROV_CERT_NOT_DER", [indefinite(leaf()), inter], [root],
         openssl="accept",
         why="OpenSSL's decoder accepts indefinite lengths (BER) and verifies the signature over the bytes as received")
    bc_bool = Cert("pki-intermediate", new_key(), root)
    bc_bool.patched(bytes.fromhex("30030101ff"), bytes.fromhex("3003010101"))
    case("intermediate-ber-boolean", "basicConstraints cA TRUE encoded as 0x01 (BER), not 0xff",
         "PROV_CERT_NOT_DER", [leaf(issuer=bc_bool), bc_bool], [root],
         openssl="accept",
         why="OpenSSL's decoder reads any non-zero BOOLEAN as TRUE")

    def oid_edit(new_oid):
        def edit(tree):
            ext = extension(tree, OID_BASIC_CONSTRAINTS)
            ext[1][0] = (0x06, RawBytes(new_oid))
        return edit

    pad = Cert("pki-intermediate", new_key(), root).edited(oid_edit(bytes.fromhex("0604 55801d13")))
    case("intermediate-oid-padded", "basicConstraints OID as 55 80 1d 13 (an arc with a leading 0x80)",
         "PROV_CERT_NOT_DER", [leaf(issuer=pad), pad], [root])
    trunc = Cert("pki-intermediate", new_key(), root).edited(oid_edit(bytes.fromhex("0604 551d1381")))
    case("intermediate-oid-truncated", "basicConstraints OID as 55 1d 13 81 (the last arc left open: not even BER)",
         "PROV_CERTIFICATE_INVALID", [leaf(issuer=trunc), trunc], [root])

    def serial_edit(tree):
        index = 1  # [0] version, serialNumber
        tree[1][index] = (0x02, RawBytes(bytes.fromhex("0202000f")))

    case("leaf-ber-integer", "the leaf's serial number as 00 0f (an INTEGER with a redundant leading octet)",
         "PROV_CERT_NOT_DER", [leaf().edited(serial_edit), inter], [root])

    def short_time(tree):
        validity = tree[1][4]
        validity[1][0] = (0x17, RawBytes(tlv(0x17, b"2601010000Z")))

    case("leaf-time-without-seconds", "the leaf's notBefore as UTCTime 2601010000Z (no seconds)",
         "PROV_CERT_NOT_DER", [leaf().edited(short_time), inter], [root])

    def constructed_cn(tree):
        subject = tree[1][5]
        atv = subject[1][0][1][0]  # SET -> AttributeTypeAndValue
        atv[1][1] = (0x33, RawBytes(tlv(0x33, tlv(0x13, b"pki-") + tlv(0x13, b"leaf"))))

    case("leaf-ber-constructed-string", "the leaf's subject CN as a constructed (segmented) PrintableString",
         "PROV_CERT_NOT_DER", [leaf().edited(constructed_cn), inter], [root],
         openssl="accept",
         why="OpenSSL's decoder joins the segments of a constructed string (BER) into one value")

    def explicit_critical_false(tree):
        ext = extension(tree, OID_SUBJECT_KEY_ID)
        ext[1].insert(1, (0x01, b"\x00"))

    case("leaf-ber-default-critical", "the leaf's subjectKeyIdentifier writes out critical FALSE (the DEFAULT)",
         "PROV_CERT_NOT_DER", [leaf().edited(explicit_critical_false), inter], [root],
         openssl="accept",
         why="OpenSSL's decoder accepts a DEFAULT value written out (BER); DER omits it (X.690 §11.5)")

    def explicit_ca_false(tree):
        ext = extension(tree, OID_BASIC_CONSTRAINTS)
        ext[1][-1] = (0x04, tlv(0x30, tlv(0x01, b"\x00")))

    case("leaf-ber-default-ca-false", "the leaf's basicConstraints writes out cA FALSE (the DEFAULT)",
         "PROV_CERT_NOT_DER", [leaf().edited(explicit_ca_false), inter], [root],
         openssl="accept",
         why="OpenSSL's decoder accepts a DEFAULT value written out (BER); DER omits it (X.690 §11.5)")

    # Structure.
    def duplicate_ski(tree):
        exts = extensions_of(tree)
        exts.append(extension(tree, OID_SUBJECT_KEY_ID))

    case("leaf-duplicate-extension", "the leaf lists subjectKeyIdentifier twice",
         "PROV_CERT_DUPLICATE_EXTENSION", [leaf().edited(duplicate_ski), inter], [root])

    def version_1(tree):
        del tree[1][0]  # [0] version
        tree[1][:] = [f for f in tree[1] if f[0] != 0xA3]  # and the extensions, which need v3

    case("leaf-version-1", "the leaf is an X.509 v1 certificate (no version, no extensions)",
         "PROV_CERT_VERSION", [leaf().edited(version_1), inter], [root],
         openssl="accept",
         why="OpenSSL accepts v1 end-entity certificates; confide requires v3 (its leaf profile needs keyUsage/extendedKeyUsage)")

    (HERE / "cases.json").write_text(json.dumps({"generator": "test/vectors/pki/generate.py", "cases": CASES}, indent=2) + "\n")
    print(f"wrote {len(CASES)} cases to {HERE / 'cases.json'}")


if __name__ == "__main__":
    main()
