"""HTTPS at the balancer: the [tls] section, the throwaway certificates and the configs
nginx and haproxy accept with them (nginx -t and haproxy -c run by prepare)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from harness.cluster import https
from harness.cluster.lab import haproxy, nginx, tls
from harness.cluster.lab.balancers import balancer
from harness.cluster.lab.topology import Topology
from harness.config.profile import Profile, ProfileError, load_profile
from harness.load import tlscost
from harness.load.tlscost import ratios


def _profile(tmp_path: Path, text: str) -> Profile:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return load_profile(str(path))


def _render_settings(tmp_path: Path, text: str) -> dict[str, Any]:
    files = tls.make_certificates(tmp_path / "tls", "127.0.9.10")
    return _profile(tmp_path, text).tls.settings() | {
        "certificate": files.certificate,
        "key": files.key,
        "bundle": files.bundle,
    }


def test_the_certificate_names_the_balancers_address_and_verifies_against_the_ca(
    tmp_path: Path,
) -> None:
    files = tls.make_certificates(tmp_path, "127.0.9.10")
    leaf = x509.load_pem_x509_certificate(files.certificate.read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.9.10"]
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    leaf.verify_directly_issued_by(ca)
    assert files.key.stat().st_mode & 0o777 == 0o600
    assert files.bundle.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" not in files.ca.read_text()
    assert not list(tmp_path.glob("ca*key*"))  # the CA's key is never written down
    ssl.create_default_context(cafile=str(files.ca))  # a client can load it


def test_a_profiles_tls_renders_into_nginx_and_passes_nginx_t(tmp_path: Path) -> None:
    wanted = _render_settings(
        tmp_path, "[tls]\nenabled = true\nsession_resumption = false\nhttp2 = true\n"
    )
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    conf = nginx.prepare(
        tmp_path / "n", topology.balancer, topology.nodes, None, tls=wanted, plain_port=8081
    ).read_text()
    assert "listen 127.0.9.10:8080 ssl http2;" in conf
    assert "listen 127.0.9.10:8081;" in conf
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf
    assert "ssl_session_tickets off;" in conf and "ssl_session_cache off;" in conf
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in conf
    plain = nginx.prepare(tmp_path / "p", topology.balancer, topology.nodes).read_text()
    assert "ssl" not in plain


def test_a_profiles_tls_renders_into_haproxy_and_passes_haproxy_c(tmp_path: Path) -> None:
    wanted = _render_settings(tmp_path, '[tls]\nenabled = true\nciphers = "modern"\n')
    assert wanted["protocols"] == ["TLSv1.3"] and wanted["ciphers"] is None
    topology = Topology(net="127.0.9", run_dir=tmp_path)
    lb = balancer("haproxy-rr")
    conf = haproxy.prepare(
        tmp_path / "h", topology.balancer, topology.nodes, lb, tls=wanted
    ).read_text()
    assert f"bind 127.0.9.10:8080 ssl crt {wanted['bundle']} alpn http/1.1" in conf
    assert "ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.3" in conf
    assert "no-tls-tickets" not in conf and "cachesize 0" not in conf


def test_the_manifest_records_what_tls_asks_for(tmp_path: Path) -> None:
    profile = _profile(tmp_path, '[tls]\nenabled = true\nprotocols = ["TLSv1.3", "TLSv1.2"]\n')
    assert profile.effective()["tls"] == {
        "level": "intermediate",
        "protocols": ["TLSv1.2", "TLSv1.3"],
        "ciphers": profile.tls.settings()["ciphers"],
        "session_resumption": True,
        "http2": False,
    }
    assert load_profile("best-practice").effective()["tls"] is None
    assert load_profile("tls").effective()["tls"]["level"] == "intermediate"


def test_the_modern_level_refuses_tls_1_2_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "wrong.toml"
    path.write_text('[tls]\nciphers = "modern"\nprotocols = ["TLSv1.2"]\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(str(path))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and "tls" in message, message
    assert "TLS 1.3 alone" in message


def test_what_the_balancer_offers_is_held_against_what_the_profile_asks() -> None:
    wanted = {"protocols": ["TLSv1.3"], "http2": True, "session_resumption": False}
    seen = {"protocol": "TLSv1.2", "cipher": "X", "alpn": "http/1.1", "resumes": True}
    wrong = https.mismatches(wanted, seen)
    assert len(wrong) == 3 and "protocol TLSv1.2" in wrong[0]
    good = {"protocol": "TLSv1.3", "cipher": "X", "alpn": "h2", "resumes": False}
    assert https.mismatches(wanted, good) == []


def test_tls_modes_are_priced_against_plain_http() -> None:
    def mode(rps: float, cpu: float | None) -> dict[str, Any]:
        return {"requests_per_s": rps, "balancer_cpu_ms_per_request": cpu}

    got = ratios({"plain": mode(1000, 0.05), "tls-full-handshake": mode(250, 0.4)})
    assert got == {
        "tls-full-handshake": {
            "requests_per_s": pytest.approx(0.25),
            "balancer_cpu_per_request": pytest.approx(8.0),
        }
    }
    assert ratios({"plain": mode(0, None), "tls-keepalive": mode(5, 0.1)})["tls-keepalive"] == {
        "requests_per_s": None,
        "balancer_cpu_per_request": None,
    }


def test_a_resumed_connection_refused_is_an_error_not_a_lost_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resumed mode connects outside the request's try: a refusal ended its thread,
    and every request and error it had counted went with it (0 requests, 0 errors)."""

    def resuming(client: Any, *args: Any) -> None:
        _client_init(client, *args)
        client.session = object()  # an earlier reply's session: resumption is tried

    def refused(host: str, port: int) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")

    _client_init = tlscost._Client.__init__
    monkeypatch.setattr(tlscost._Client, "__init__", resuming)
    monkeypatch.setattr(tlscost, "_tcp", refused)
    plan: Any = type("Plan", (), {"duration_s": 0.2, "clients": 2})()
    counts = tlscost._drive(
        "https://127.0.0.1:9/", "tls-resumed", plan, ssl.create_default_context()
    )
    assert counts["errors"] > 0 and counts["requests"] == 0, counts
