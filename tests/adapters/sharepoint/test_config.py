"""The plugin and its configuration: registration, install hint, checks, secrets."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
from pathlib import Path

import pytest
from tests.adapters.sharepoint.conftest import ROOT
from tests.adapters.sharepoint.server import SITE, TOKEN

import grc_adapters.sharepoint.plugin as sharepoint_plugin
from grc_adapters.sharepoint.backend import SharePointBackend
from grc_adapters.sharepoint.config import ACCEPTED, MiB, parse_settings
from grc_core.backends import Backends
from grc_core.config import load_settings
from grc_core.errors import BackendNotInstalled, ConfigError, GrcError
from grc_core.plugins import Registry, redact

SITE_URL = "https://contoso.sharepoint.com/sites/crm"
SECRET = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.a-secret-token"


def registry() -> Registry:
    return Registry.load(autoload=False, plugins=[sharepoint_plugin])


@pytest.fixture
def pem(tmp_path) -> Path:
    path = tmp_path / "key.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nMIIE…\n-----END PRIVATE KEY-----\n")
    return path


def certificate(pem: Path, **overrides: object) -> dict[str, object]:
    return {
        "site_url": SITE_URL,
        "tenant": "contoso.onmicrosoft.com",
        "client_id": "6731de76-14a6-49ae-97bc-6eba6914391e",
        "thumbprint": "0735EE50593BA3D1B8477BDCB743BF3B1AC808FD",
        "cert_path": str(pem),
        **overrides,
    }


# --- registration -------------------------------------------------------------------------


def test_the_plugin_registers_sharepoint_with_its_extra():
    (info,) = registry().storage_backends()
    assert info.name == "sharepoint"
    assert info.requires == ("office365",)
    assert info.extra == "sharepoint"
    assert info.available


def test_the_entry_point_is_installed():
    names = Registry.load().storage_backend_names()
    assert "sharepoint" in names


def test_a_missing_client_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "office365" else real(name, *a),
    )
    with pytest.raises(BackendNotInstalled, match=r"pip install '.*\[sharepoint\]'"):
        registry().storage_backend("sharepoint", {"site_url": SITE_URL, "access_token": "x"})


def test_the_plugin_module_does_not_import_the_client():
    code = (
        "import sys, grc_adapters.sharepoint.plugin, grc_adapters.sharepoint; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('office365', 'msal')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_backend_is_built_from_environment_variables(server, protocol):
    settings = load_settings(
        environ={
            "GRC_STORAGE_BACKEND": "sharepoint",
            "GRC_STORAGE__SHAREPOINT__SITE_URL": server.url + SITE,
            "GRC_STORAGE__SHAREPOINT__ACCESS_TOKEN": TOKEN,
            "GRC_STORAGE__SHAREPOINT__CHUNK_SIZE": "128KiB",
            "GRC_STORAGE__SHAREPOINT__TIMEOUT": "5",
        },
        config_file=None,
    )
    backends = Backends.from_settings(registry(), settings)
    backend = backends.default
    assert isinstance(backend, SharePointBackend)
    assert backend.settings.chunk_size == 128 * 1024
    key = backend.put("2026/03/" + "e" * 32, io.BytesIO(b"from the environment" * 10_000))
    assert backend.stat(key).size == 200_000
    assert len(protocol.documents(ROOT)) == 1
    backends.close()


# --- checks ---------------------------------------------------------------------------------


def test_defaults_and_parsing(pem):
    settings = parse_settings(certificate(pem, chunk_size="8 MiB", timeout="30", retries="5"))
    assert settings.library == "Shared Documents"
    assert settings.root_folder == "CRM"
    assert settings.root_path == "/sites/crm/Shared Documents/CRM"
    assert settings.chunk_size == 8 * MiB
    assert (settings.timeout, settings.retries) == (30.0, 5)
    assert settings.thumbprint == "0735EE50593BA3D1B8477BDCB743BF3B1AC808FD"
    colons = parse_settings(
        certificate(pem, thumbprint="07:35:ee:50:59:3b:a3:d1:b8:47:7b:dc:b7:43:bf:3b:1a:c8:08:fd")
    )
    assert colons.thumbprint == settings.thumbprint


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"site_url": None}, "site_url is required"),
        ({"site_url": "http://contoso.sharepoint.com/sites/crm"}, "https://"),
        ({"site_url": "https://contoso.sharepoint.com/sites/crm?x=1"}, "without query"),
        ({"colour": "blue"}, "unknown setting.*'colour'.*accepted: site_url"),
        ({"client_secret": "s3cr3t"}, "client_secret is not supported.*certificate"),
        ({"access_token": SECRET}, "either access_token or the certificate"),
        ({"thumbprint": None, "tenant": ""}, "missing: tenant, thumbprint"),
        ({"client_id": "my-app"}, "client_id must be the application"),
        ({"thumbprint": "ABC"}, "SHA-1 thumbprint"),
        ({"cert_path": "/nonexistent/key.pem"}, "cert_path does not point to a readable file"),
        ({"chunk_size": "1KiB"}, "chunk_size must be a whole number"),
        ({"chunk_size": True}, "chunk_size must be a whole number"),
        ({"timeout": "nan"}, "timeout must be a number"),
        ({"retries": -1}, "retries must be a whole number"),
        ({"root_folder": "CRM/a:b"}, "root_folder 'CRM/a:b' is not a valid"),
        ({"root_folder": "Forms"}, "cannot be 'Forms'"),
        ({"library": "Shared Documents/CRM"}, "library must be the library's URL name"),
        ({"authority": "http://login.example"}, "authority must be an https"),
        ({"column_reference": "Grc Key"}, "column_reference must be the internal name"),
    ],
)
def test_configuration_mistakes_are_clear(pem, overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings(certificate(pem, **overrides))


def test_a_certificate_file_without_a_private_key_is_refused(tmp_path, pem):
    cer = tmp_path / "app.cer"
    cer.write_text("-----BEGIN CERTIFICATE-----\nMIIC…\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError, match="private key"):
        parse_settings(certificate(pem, cert_path=str(cer)))


def test_every_accepted_key_is_documented():
    page = (Path(__file__).parents[3] / "docs" / "backends" / "sharepoint.md").read_text()
    for key in ACCEPTED:
        assert f"`{key}`" in page, key


# --- secrets --------------------------------------------------------------------------------


def test_secrets_never_appear(pem, tmp_path):
    config = {"site_url": SITE_URL, "access_token": SECRET, "bogus": 1}
    with pytest.raises(GrcError) as caught:
        registry().storage_backend("sharepoint", config)
    assert SECRET not in str(caught.value)

    shown = redact(certificate(pem, cert_passphrase="hunter2-passphrase"))
    assert shown["cert_path"] == shown["cert_passphrase"] == "***"
    assert redact({"access_token": SECRET})["access_token"] == "***"

    settings = parse_settings({"site_url": SITE_URL, "access_token": SECRET})
    backend = SharePointBackend(settings)
    assert SECRET not in repr(settings) and SECRET not in repr(backend)
    with_passphrase = parse_settings(certificate(pem, cert_passphrase="hunter2-passphrase"))
    assert "hunter2" not in repr(with_passphrase) and str(pem) not in repr(with_passphrase)
    backend.close()
