"""Reading files by content: PEM, DER, PKCS#7, PKCS#12; unusable input is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs7,
    pkcs12,
)

from netcheck.certs.load import KeyState, load_material
from netcheck.errors import ConfigError, UsageError
from tests.certs.pkifactory import PASSPHRASE, Pki, key_pem, make_leaf, pem, write


@pytest.fixture
def files(tmp_path: Path, pki: Pki) -> dict[str, Path]:
    leaf, key = make_leaf(pki.intermediate)
    der_key = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    p12 = pkcs12.serialize_key_and_certificates(
        b"sensor",
        key,
        leaf,
        [pki.intermediate.cert, pki.root.cert],
        BestAvailableEncryption(PASSPHRASE.encode()),
    )
    return {
        "crt": write(tmp_path / "sensor.crt", pem(leaf)),
        "der": write(tmp_path / "sensor.pem", leaf.public_bytes(Encoding.DER)),  # DER named .pem on purpose
        "key": write(tmp_path / "sensor.key", key_pem(key)),
        "key_enc": write(tmp_path / "sensor-enc.key", key_pem(key, PASSPHRASE)),
        "key_trad_enc": write(tmp_path / "sensor-trad.key", key_pem(key, PASSPHRASE, traditional=True)),
        "key_der": write(tmp_path / "sensor-key.der", der_key),
        "chain": write(tmp_path / "chain.pem", pem(pki.intermediate.cert, pki.root.cert)),
        "p12": write(tmp_path / "sensor.crt.bin", p12),  # extension says nothing
        "p7b": write(
            tmp_path / "chain.p7b", pkcs7.serialize_certificates([pki.intermediate.cert, pki.root.cert], Encoding.DER)
        ),
        "fullchain": write(tmp_path / "fullchain.pem", pem(leaf, pki.intermediate.cert)),
    }


def test_pem_files(files: dict[str, Path]) -> None:
    mat = load_material(files["crt"], files["key"], files["chain"], None)
    assert mat.crt_format == "pem" and mat.key_state is KeyState.OK and len(mat.chain) == 2
    assert not mat.key_encrypted and mat.chain_source == f"--chain {files['chain']}"


def test_der_certificate_whatever_the_extension(files: dict[str, Path]) -> None:
    mat = load_material(files["der"], files["key_der"], files["p7b"], None)
    assert mat.crt_format == "der" and mat.key is not None and len(mat.chain) == 2


@pytest.mark.parametrize("which", ["key_enc", "key_trad_enc"])
def test_encrypted_key_right_wrong_and_missing_passphrase(files: dict[str, Path], which: str) -> None:
    right = load_material(files["crt"], files[which], None, PASSPHRASE)
    assert right.key_state is KeyState.OK and right.key_encrypted
    wrong = load_material(files["crt"], files[which], None, "not-it")
    assert wrong.key_state is KeyState.WRONG_PASSPHRASE and wrong.key is None
    missing = load_material(files["crt"], files[which], None, None)
    assert missing.key_state is KeyState.NEEDS_PASSPHRASE


def test_passphrase_for_a_plain_key(files: dict[str, Path]) -> None:
    mat = load_material(files["crt"], files["key"], None, PASSPHRASE)
    assert mat.key_state is KeyState.OK and mat.passphrase_unused


def test_pkcs12_alone_gives_key_and_chain(files: dict[str, Path]) -> None:
    mat = load_material(files["p12"], None, None, PASSPHRASE)
    assert mat.crt_format == "pkcs12" and mat.key is not None and mat.key_encrypted
    assert [c.subject.rfc4514_string().split(",")[0] for c in mat.chain] == [
        "CN=Contoso Issuing CA",
        "CN=Contoso Root CA",
    ]
    assert mat.extra_in_crt == ()


def test_pkcs12_wrong_and_missing_password(files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="passphrase does not open this PKCS#12") as wrong:
        load_material(files["p12"], None, None, "not-it")
    assert "not-it" not in str(wrong.value)
    with pytest.raises(ConfigError, match="password-protected PKCS#12"):
        load_material(files["p12"], None, None, None)


def test_pkcs12_without_password(tmp_path: Path, pki: Pki) -> None:
    leaf, key = make_leaf(pki.intermediate)
    bundle = pkcs12.serialize_key_and_certificates(b"x", key, leaf, None, NoEncryption())
    mat = load_material(write(tmp_path / "open.pfx", bundle), None, None, PASSPHRASE)
    assert mat.key is not None and not mat.key_encrypted and mat.passphrase_unused


def test_fullchain_in_crt_becomes_the_chain(files: dict[str, Path]) -> None:
    mat = load_material(files["fullchain"], files["key"], None, None)
    assert len(mat.extra_in_crt) == 1 and len(mat.chain) == 1
    assert mat.chain_source == f"--crt {files['fullchain']} (certificate file)"


def test_bag_attributes_and_key_in_crt(tmp_path: Path, pki: Pki) -> None:
    leaf, key = make_leaf(pki.intermediate)
    bag = b"Bag Attributes\n    localKeyID: 01 00 00 00 \n    friendlyName: sensor\nsubject=/CN=sensor\n"
    combined = bag + pem(leaf) + b"Bag Attributes\n    localKeyID: 01 00 00 00 \nKey Attributes: <No Attributes>\n"
    combined += key_pem(key)
    chain = b"Bag Attributes: <No Attributes>\nsubject=CN = Contoso Issuing CA\nissuer=CN = Contoso Root CA\n"
    chain += pem(pki.intermediate.cert) + b"Bag Attributes: <No Attributes>\n" + pem(pki.root.cert)
    mat = load_material(write(tmp_path / "combined.pem", combined), None, write(tmp_path / "bag.pem", chain), None)
    assert mat.bag_attributes and mat.key_in_crt and mat.key is not None and len(mat.chain) == 2


def test_trusted_certificate_label(tmp_path: Path, pki: Pki) -> None:
    leaf, key = make_leaf(pki.intermediate)
    aux = pem(pki.root.cert).replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE")
    mat = load_material(
        write(tmp_path / "l.pem", pem(leaf)),
        write(tmp_path / "k.pem", key_pem(key)),
        write(tmp_path / "r.pem", aux),
        None,
    )
    assert len(mat.chain) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--crt: no such file"),
        (b"", "--crt: the file is empty"),
        (b"  \n\n", "--crt: the file is empty"),
        (b"hello, I am not a certificate\n", "--crt: not a certificate, key or PKCS#12 bundle"),
        (bytes(range(256)) * 4, "--crt: not a certificate, key or PKCS#12 bundle"),
        (
            b"-----BEGIN CERTIFICATE-----\nnot base64 at all!!\n-----END CERTIFICATE-----\n",
            "PEM block 1 (CERTIFICATE) is not a valid certificate",
        ),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "no certificate or private key"),
    ],
)
def test_unusable_crt_is_one_line_naming_the_file(
    tmp_path: Path, files: dict[str, Path], content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.crt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as error:
        load_material(path, files["key"], None, None)
    text = error.value.one_line()
    assert str(path) in text and message in text and "\n" not in text
    assert "expected" in text or "PEM block" in text


def test_directory_and_swapped_files(tmp_path: Path, files: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_material(tmp_path, files["key"], None, None)
    with pytest.raises(ConfigError, match="were --crt and --key swapped"):
        load_material(files["key"], files["crt"], None, None)
    with pytest.raises(ConfigError, match="--key: holds a certificate, not a private key"):
        load_material(files["crt"], files["chain"], None, None)
    with pytest.raises(ConfigError, match="--chain: holds no certificate"):
        load_material(files["crt"], files["key"], files["key"], None)
    with pytest.raises(UsageError, match="no private key given"):
        load_material(files["crt"], None, None, None)


def test_corrupt_key(tmp_path: Path, files: dict[str, Path]) -> None:
    broken = write(tmp_path / "broken.key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="corrupt or not a supported key"):
        load_material(files["crt"], broken, None, None)


@pytest.mark.parametrize("which", ["key_enc", "key_trad_enc"])
def test_every_wrong_passphrase_is_a_wrong_passphrase(files: dict[str, Path], which: str) -> None:
    # About 1 wrong passphrase in 256 decrypts an AES-CBC key to garbage with valid padding;
    # 1,500 tries make that case near certain (a corrupt-key error here was a flaky CI failure).
    for attempt in range(1500):
        wrong = load_material(files["crt"], files[which], None, f"wrong-{attempt}")
        assert wrong.key_state is KeyState.WRONG_PASSPHRASE, attempt
