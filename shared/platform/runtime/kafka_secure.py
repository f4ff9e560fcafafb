"""`pillars up --secure`: the embedded broker's TLS and SCRAM material, its listener
properties, and the least-privilege ACLs applied once it runs.

A CA and the broker's certificate (for 127.0.0.1 and localhost) are generated into
`<data_dir>/kafka/secure` with the `cryptography` package, with one SCRAM-SHA-512 password
per principal (the platform's admin, each service, business systems); the files are readable
by the owner only. The credentials are created when the storage is formatted.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import CreateAclsRequest_v1
from aiokafka.protocol.api import Request
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.kit.kafka_security import KafkaSecuritySettings, kafka_client_options
from shared.kit.settings import bootstrap_list
from shared.platform.acls import ADMIN, BUSINESS, Acl, principal_of
from shared.platform.runtime.supervisor import SERVICES

__all__ = ["MECHANISM", "BrokerSecurity", "apply_acls"]

MECHANISM = "SCRAM-SHA-512"
_VALID_DAYS = 825  # the longest validity clients accept for a TLS server certificate


@dataclass(frozen=True)
class BrokerSecurity:
    """The secure broker's material in `folder`: made once, kept across restarts."""

    folder: Path

    @property
    def ca_file(self) -> Path:
        """Return the CA certificate clients trust (`PILLARS_KAFKA_SSL_CA_LOCATION`)."""
        return self.folder / "ca.pem"

    @property
    def principals(self) -> list[str]:
        """Return every SCRAM user: the admin, business systems, then one per service."""
        return [ADMIN, BUSINESS, *(principal_of(s) for s in SERVICES)]

    def ensure(self) -> None:
        """Generate what is missing: the CA, the broker's certificate, the passwords."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not (self.folder / "broker.json").exists():
            ca_key, ca_cert = _certificate("pillars embedded Kafka CA", None)
            key, cert = _certificate("127.0.0.1", (ca_key, ca_cert))
            self.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
            pem = serialization.Encoding.PEM
            chain = cert.public_bytes(pem) + ca_cert.public_bytes(pem)
            private = key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            _write_private(
                self.folder / "broker.json", {"chain": chain.decode(), "key": private.decode()}
            )
        if not (self.folder / "credentials.json").exists():
            passwords = {p: secrets.token_urlsafe(24) for p in self.principals}
            _write_private(self.folder / "credentials.json", passwords)

    def password(self, principal: str) -> str:
        """Return `principal`'s SCRAM password."""
        passwords: dict[str, str] = json.loads((self.folder / "credentials.json").read_text())
        return passwords[principal]

    def format_arguments(self) -> list[str]:
        """Return `kafka-storage format` arguments creating every principal's credentials."""
        return [
            argument
            for p in self.principals
            for argument in ("--add-scram", f"{MECHANISM}=[name={p},password={self.password(p)}]")
        ]

    def listener_properties(self, port: int, controller_port: int) -> list[str]:
        """Return a SASL_SSL client listener, the controller on SASL_PLAINTEXT (PLAIN: the
        controller cannot read SCRAM credentials from the metadata it serves) on loopback,
        the admin as super user, and no access for anyone an ACL does not name."""
        tls: dict[str, str] = json.loads((self.folder / "broker.json").read_text())
        admin = self.password(ADMIN)
        scram = f'username="{ADMIN}" password="{admin}";'
        plain = f'username="{ADMIN}" password="{admin}" user_{ADMIN}="{admin}";'
        return [
            f"listeners=SECURE://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=SECURE://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=SECURE:SASL_SSL,CONTROLLER:SASL_PLAINTEXT",
            "inter.broker.listener.name=SECURE",
            f"sasl.enabled.mechanisms={MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
            "sasl.mechanism.controller.protocol=PLAIN",
            "listener.name.controller.sasl.enabled.mechanisms=PLAIN",
            "listener.name.controller.plain.sasl.jaas.config="
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain}",
            f"listener.name.secure.{MECHANISM.lower()}.sasl.jaas.config="
            f"org.apache.kafka.common.security.scram.ScramLoginModule required {scram}",
            "ssl.keystore.type=PEM",
            "ssl.keystore.certificate.chain=" + _escaped(tls["chain"]),
            "ssl.keystore.key=" + _escaped(tls["key"]),
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            "ssl.endpoint.identification.algorithm=https",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found=false",
            f"super.users=User:{ADMIN}",
        ]

    def client_env(self, principal: str) -> dict[str, str]:
        """Return the `PILLARS_KAFKA_*` settings that connect as `principal`."""
        return {
            "PILLARS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "PILLARS_KAFKA_SASL_MECHANISM": MECHANISM,
            "PILLARS_KAFKA_SASL_USERNAME": principal,
            "PILLARS_KAFKA_SASL_PASSWORD": self.password(principal),
            "PILLARS_KAFKA_SSL_CA_LOCATION": str(self.ca_file),
        }

    def client_settings(self, principal: str) -> KafkaSecuritySettings:
        """Return the client settings of `principal` (hostname verification on)."""
        env = self.client_env(principal)
        return KafkaSecuritySettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=MECHANISM,
            kafka_sasl_username=principal,
            kafka_sasl_password=env["PILLARS_KAFKA_SASL_PASSWORD"],
            kafka_ssl_ca_location=self.ca_file,
        )


def _escaped(pem: str) -> str:
    """Return a PEM block as one properties line (Java reads `\\n` back as a line break)."""
    return pem.strip().replace("\n", "\\n")


def _write_private(path: Path, content: dict[str, str]) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(content, file)


def _certificate(
    name: str, issuer: tuple[rsa.RSAPrivateKey, x509.Certificate] | None
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Return a new key and its certificate: a CA's (no issuer) or a server's for `name`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer[1].subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        server = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        builder = builder.add_extension(x509.ExtendedKeyUsage(server), critical=False)
    return key, builder.sign(issuer[0] if issuer else key, hashes.SHA256())


# Kafka's codes (org.apache.kafka.common.acl / resource).
_RESOURCE = {"TOPIC": 2, "GROUP": 3, "TRANSACTIONAL_ID": 5}
_OPERATION = {"READ": 3, "WRITE": 4, "DESCRIBE": 8}
_PATTERN = {"LITERAL": 3, "PREFIXED": 4}
_ALLOW = 3


class _CreateAcls(Request[CreateAclsRequest_v1]):  # type: ignore[misc]  # aiokafka is untyped
    """CreateAcls v1 with many creations (aiokafka's own request carries one)."""

    API_KEY = 30

    def __init__(self, acls: Sequence[Acl]) -> None:
        self._acls = acls

    def build(self, request_struct_class: Any) -> Any:
        """Return the request at the negotiated version (v1: with pattern types)."""
        return request_struct_class(
            [
                (_RESOURCE[a.resource], a.name, _PATTERN[a.pattern], a.principal, "*",
                 _OPERATION[a.operation], _ALLOW)
                for a in self._acls
            ]
        )  # fmt: skip


async def apply_acls(
    bootstrap: str | Sequence[str], acls: Sequence[Acl], admin: KafkaSecuritySettings
) -> None:
    """Create `acls` (creating one that exists is a no-op); raise naming a refused one."""
    client = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap_list(bootstrap), **kafka_client_options(admin)
    )
    await client.start()
    try:
        response = await client._send_request(_CreateAcls(acls))
        for acl, (code, message) in zip(acls, response.creation_responses, strict=True):
            if code:
                raise RuntimeError(f"the broker refused ACL {acl}: error {code} {message}")
    finally:
        await client.close()
