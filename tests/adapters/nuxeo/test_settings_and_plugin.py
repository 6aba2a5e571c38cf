"""The configuration of the Nuxeo backend, and its plugin registration."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import grc_adapters.nuxeo.plugin as nuxeo_plugin
from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_adapters.nuxeo.settings import DEFAULT_CHUNK_SIZE, NuxeoSettings
from grc_core.errors import BackendNotInstalled, ConfigError
from grc_core.plugins import Registry, redact

URL = "https://ged.example.com/nuxeo"
SECRET = "Sup3r-s3cret!"


def settings(**config: Any) -> NuxeoSettings:
    return NuxeoSettings.from_config({"url": URL, "user": "grc", "password": SECRET, **config})


def test_defaults_and_normalisation():
    checked = settings()
    assert checked.url == URL + "/"
    assert (checked.repository, checked.root_path) == ("default", "/default-domain/workspaces/CRM")
    assert (checked.chunk_size, checked.retries, checked.timeout) == (DEFAULT_CHUNK_SIZE, 3, 60.0)
    assert checked.auth_method == "basic" and checked.verify_tls is True


def test_environment_variables_arrive_as_strings():
    checked = settings(
        chunk_size="1048576", timeout="2.5", retries="0", backoff="0", verify_tls="false",
        root_path="/default-domain/workspaces/Ventes/",
    )  # fmt: skip
    assert (checked.chunk_size, checked.timeout, checked.retries) == (1048576, 2.5, 0)
    assert checked.verify_tls is False
    assert checked.root_path == "/default-domain/workspaces/Ventes"


@pytest.mark.parametrize(
    ("auth", "method"),
    [({"token": "t"}, "token"), ({"bearer_token": "eyJ"}, "bearer")],
)
def test_token_and_bearer_authentication(auth: dict[str, str], method: str):
    assert NuxeoSettings.from_config({"url": URL, **auth}).auth_method == method


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"url": URL, "user": "grc", "password": "p", "site": "x"},
            "no setting 'site'; accepted: url",
        ),
        ({"user": "grc", "password": "p"}, "needs url"),
        ({"url": "ftp://ged/nuxeo/", "token": "t"}, "http:// or https://"),
        ({"url": "https://grc:pw@ged/nuxeo/", "token": "t"}, "must not contain credentials"),
        ({"url": URL}, "exactly one way to authenticate.*none is set"),
        ({"url": URL, "token": "t", "user": "u", "password": "p"}, "got user/password and token"),
        ({"url": URL, "user": "grc"}, "password is missing"),
        ({"url": URL, "token": "t", "chunk_size": 1000}, "chunk_size must be a whole number"),
        ({"url": URL, "token": "t", "chunk_size": "8 MiB"}, "chunk_size"),
        ({"url": URL, "token": "t", "timeout": 0}, "timeout must be a number"),
        ({"url": URL, "token": "t", "retries": 11}, "retries"),
        ({"url": URL, "token": "t", "root_path": "relative/path"}, "absolute Nuxeo path"),
        ({"url": URL, "token": "t", "root_path": "/a/../b"}, "absolute Nuxeo path"),
        ({"url": URL, "token": "t", "root_path": "/"}, "absolute Nuxeo path"),
        ({"url": URL, "token": "t", "repository": "de fault"}, "repository name"),
        ({"url": URL, "token": "t", "verify_tls": "/etc/ca.pem"}, "REQUESTS_CA_BUNDLE"),
    ],
)
def test_configuration_errors_say_what_is_wrong(config: dict[str, Any], message: str):
    with pytest.raises(ConfigError, match=message):
        NuxeoSettings.from_config(config)


@pytest.mark.parametrize("key", ["password", "token", "bearer_token"])
def test_secrets_never_appear_in_errors_or_repr(key: str):
    with pytest.raises(ConfigError) as caught:
        NuxeoSettings.from_config({"url": URL, key: 987654321})
    assert "987654321" not in str(caught.value)
    assert SECRET not in repr(settings())
    backend = NuxeoBackend(settings())
    try:
        assert SECRET not in repr(backend) and "user 'grc'" in repr(backend)
    finally:
        backend.close()
    assert redact({"password": SECRET, "token": "t", "bearer_token": "b"}) == {
        "password": "***", "token": "***", "bearer_token": "***",
    }  # fmt: skip


# --- the plugin ---------------------------------------------------------------------------


def registry() -> Registry:
    return Registry.load(autoload=False, plugins=[nuxeo_plugin])


def test_the_plugin_registers_nuxeo_with_its_extra():
    (info,) = [b for b in registry().storage_backends() if b.name == "nuxeo"]
    assert info.available and info.extra == "nuxeo"
    assert info.requires == ("nuxeo", "packaging")


def test_the_registry_builds_the_backend():
    backend = registry().storage_backend("nuxeo", {"url": URL, "token": "t"})
    try:
        assert isinstance(backend, NuxeoBackend) and backend.name == "nuxeo"
    finally:
        backend.close()


def test_a_wrong_secret_type_is_reported_without_its_value():
    with pytest.raises(ConfigError) as caught:
        registry().storage_backend("nuxeo", {"url": URL, "user": "grc", "password": 31415926})
    assert "31415926" not in str(caught.value)


def test_without_the_client_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nuxeo" else real(name, *a)
    )
    with pytest.raises(BackendNotInstalled, match=r"pip install 'grc-exchanges\[nuxeo\]'"):
        registry().storage_backend("nuxeo", {"url": URL, "token": "t"})


def test_loading_the_plugin_imports_neither_the_client_nor_the_backend():
    code = (
        "import sys, grc_adapters.nuxeo.plugin\n"
        "from grc_core.plugins import Registry\n"
        "Registry.load(autoload=False, plugins=[grc_adapters.nuxeo.plugin]).storage_backends()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('nuxeo', 'jwt', 'requests')"
        " or m == 'grc_adapters.nuxeo.backend'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_client_repeats_reads_but_never_a_post_that_reached_the_server():
    backend = NuxeoBackend(settings(retries=4, backoff=1))
    try:
        policy = backend._nx.client._session.get_adapter("https://ged.example.com/").max_retries
    finally:
        backend.close()
    assert policy is not None and policy.total == 4
    for status in (429, 500, 502, 503, 504):
        assert policy.is_retry("GET", status)
        assert not policy.is_retry("POST", status)
        assert not policy.is_retry("DELETE", status)
    assert not policy.is_retry("GET", 401)
    assert policy.parse_retry_after("3600") == 30  # a server's Retry-After is capped
    assert policy.backoff_max == 30
