"""A nodeless Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager.

Certificates are made per run with openssl (a CA, the API server's serving certificate, client
certificates for the admin and the controller manager, a service-account key). The API server
authenticates clients by certificate and authorises with RBAC. Everything is stopped by PID.
DaemonSets report ready with no nodes, so the kubernetes provider's await passes; the
controller manager runs the namespace and garbage-collector controllers that `destroy` needs.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.e2e.kube import Credentials, Kube
from tests.e2e.processes import HOST, Server, free_port, port_open
from tests.e2e.tools import Toolchain


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _client_cert(pki: Path, name: str, subject: str) -> tuple[Path, Path]:
    key, csr, crt = pki / f"{name}.key", pki / f"{name}.csr", pki / f"{name}.crt"
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(csr), "-subj", subject)  # fmt: skip
    ext = pki / f"{name}.ext"
    ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
             "-CAcreateserial", "-days", "2", "-out", str(crt), "-extfile", str(ext))  # fmt: skip
    return crt, key


def make_pki(pki: Path) -> None:
    pki.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"), "-days", "2", "-subj", "/CN=kvm-in-a-pod-e2e-ca")  # fmt: skip
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(pki / "apiserver.key"), "-out", str(pki / "apiserver.csr"), "-subj", "/CN=kube-apiserver")  # fmt: skip
    (pki / "apiserver.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\n"
        "extendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl("x509", "-req", "-in", str(pki / "apiserver.csr"), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
             "-CAcreateserial", "-days", "2", "-out", str(pki / "apiserver.crt"), "-extfile", str(pki / "apiserver.ext"))  # fmt: skip
    _client_cert(pki, "admin", "/O=system:masters/CN=kvm-in-a-pod-e2e-admin")
    _client_cert(pki, "controller-manager", "/CN=system:kube-controller-manager")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(pki / "sa.key"))
    _openssl("pkey", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def kubeconfig(server: str, pki: Path, user: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "e2e", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate": str(pki / f"{user}.crt"), "client-key": str(pki / f"{user}.key")}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": user}}],
            "current-context": "e2e",
        },
        sort_keys=False,
    )


@dataclass
class ControlPlane:
    server: str
    kubeconfig: Path  # admin (system:masters)
    credentials: Credentials
    servers: list[Server]

    def kube(self) -> Kube:
        return Kube(self.credentials)

    def version(self) -> str:
        info = self.kube().request("GET", "/version")
        return str(info["gitVersion"])

    @property
    def apiserver(self) -> Server:
        return next(server for server in self.servers if server.name == "kube-apiserver")

    def start_apiserver(self) -> None:
        """kube-apiserver again, after ``apiserver.stop()``: the same flags, certificates and etcd."""
        self.apiserver.restart()
        kube = Kube(self.credentials, timeout=5)
        self.apiserver.wait_until(lambda: kube.request("GET", "/readyz") == "ok", 90, "/readyz ok")


@contextlib.contextmanager
def running_control_plane(tools: Toolchain, workdir: Path) -> Iterator[ControlPlane]:
    workdir.mkdir(parents=True, exist_ok=True)
    pki = workdir / "pki"
    make_pki(pki)
    servers: list[Server] = []
    try:
        etcd_port, etcd_peer = free_port(), free_port()
        etcd = Server(
            "etcd",
            [str(tools["etcd"]), "--name", "e2e", "--data-dir", str(workdir / "etcd"),
             "--listen-client-urls", f"http://{HOST}:{etcd_port}", "--advertise-client-urls", f"http://{HOST}:{etcd_port}",
             "--listen-peer-urls", f"http://{HOST}:{etcd_peer}", "--initial-advertise-peer-urls", f"http://{HOST}:{etcd_peer}",
             "--initial-cluster", f"e2e=http://{HOST}:{etcd_peer}", "--unsafe-no-fsync", "--log-level", "warn"],
            workdir / "etcd.log",
        )  # fmt: skip
        servers.append(etcd)
        etcd.wait_until(lambda: port_open(etcd_port), 30, "its client port open")

        api_port = free_port()
        server = f"https://{HOST}:{api_port}"
        apiserver = Server(
            "kube-apiserver",
            [str(tools["kube-apiserver"]),
             f"--etcd-servers=http://{HOST}:{etcd_port}",
             f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={api_port}",
             f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
             f"--client-ca-file={pki / 'ca.crt'}",
             "--authorization-mode=RBAC",
             "--anonymous-auth=false",
             "--allow-privileged=true",  # the Multus and device-plugin DaemonSets are privileged
             "--service-account-issuer=https://kubernetes.default.svc",
             f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
             "--service-cluster-ip-range=10.96.0.0/24",
             f"--cert-dir={workdir / 'apiserver-certs'}"],
            workdir / "kube-apiserver.log",
        )  # fmt: skip
        servers.append(apiserver)
        credentials = Credentials(server, pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        kube = Kube(credentials, timeout=5)
        apiserver.wait_until(lambda: kube.request("GET", "/readyz") == "ok", 90, "/readyz ok")

        admin_config = workdir / "kubeconfig"
        admin_config.write_text(kubeconfig(server, pki, "admin"))
        kcm_config = workdir / "controller-manager.kubeconfig"
        kcm_config.write_text(kubeconfig(server, pki, "controller-manager"))
        kcm = Server(
            "kube-controller-manager",
            [str(tools["kube-controller-manager"]),
             f"--kubeconfig={kcm_config}", f"--authentication-kubeconfig={kcm_config}", f"--authorization-kubeconfig={kcm_config}",
             f"--bind-address={HOST}", "--secure-port=0", "--leader-elect=false",
             f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
             "--use-service-account-credentials=true",  # each controller under its own RBAC role, as kubeadm runs it
             f"--cert-dir={workdir / 'kcm-certs'}"],
            workdir / "kube-controller-manager.log",
        )  # fmt: skip
        servers.append(kcm)
        # The namespace controller must be up before anything is deleted; the default
        # ServiceAccount it creates shows the controllers run.
        kcm.wait_until(lambda: kube.get("ServiceAccount", "default", "default") is not None, 90, "the default ServiceAccount created")
        yield ControlPlane(server, admin_config, credentials, servers)
    finally:
        for proc in reversed(servers):
            proc.stop()
