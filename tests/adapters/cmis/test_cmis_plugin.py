"""The ``cmis`` plugin: registration, configuration (file and environment), secrets, repos."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import grc_adapters.cmis.plugin as cmis_plugin
from grc_core.backends import Backends
from grc_core.config import load_settings
from grc_core.errors import BackendNotInstalled, ConfigError, GrcError
from grc_core.plugins import Registry, redact

from .conftest import PASSWORD, USER, serve, settings
from .server import BASE, CmisProtocol


def registry() -> Registry:
    return Registry.load(autoload=False, plugins=[cmis_plugin])


def test_the_plugin_registers_cmis_with_its_extra():
    [info] = [b for b in registry().storage_backends() if b.name == "cmis"]
    assert info.requires == ("cmislib",) and info.extra == "cmis"
    assert info.available


def test_the_entry_point_declares_the_plugin():
    names = {b.name: b.plugin for b in Registry.load().storage_backends()}
    assert names.get("cmis") == "cmis"


def test_a_missing_cmislib_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cmislib", None)  # find_spec then fails as if absent
    with pytest.raises(BackendNotInstalled, match=r"pip install 'grc-exchanges\[cmis\]'"):
        registry().storage_backend("cmis", {"url": "https://x/browser", "user": "u"})


def test_the_plugin_module_imports_no_client_library():
    code = (
        "import sys, grc_adapters.cmis, grc_adapters.cmis.plugin\n"
        "heavy = {'cmislib', 'requests', 'requests_toolbelt'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- configuration ---------------------------------------------------------------------------


def good(**overrides):
    config = {"url": "https://ged.example.com" + BASE, "user": "svc", "password": "hunter2"}
    config.update(overrides)
    return {k: v for k, v in config.items() if v is not None}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"colour": "blue"}, "has no setting 'colour'"),
        ({"url": None}, "url is required"),
        ({"password": None}, "password is required"),
        ({"url": "ftp://ged/browser"}, "http(s) URL of the CMIS Browser binding"),
        ({"url": "https://svc:hunter2@ged/browser"}, "must not contain credentials"),
        ({"url": "https://ged/alfresco/api/-default-/public/cmis/versions/1.1/atom",
          "binding": "browser"}, "is an AtomPub address but binding = 'browser'"),
        ({"url": "https://ged/browser?x=1"}, "no query string"),
        ({"root_path": "CRM"}, "absolute repository path"),
        ({"root_path": "/CRM/a:b"}, "folder name 'a:b'"),
        ({"root_path": "/CRM/../etc"}, "folder name '..'"),
        ({"timeout": "soon"}, "timeout must be a number from 0.1 to 3600"),
        ({"timeout": 0}, "timeout must be a number"),
        ({"retries": "2.5"}, "retries must be a whole number"),
        ({"retries": 99}, "retries must be a number from 0 to 10"),
        ({"user": 42}, "user must be a string"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle '/nonexistent/ca.pem' does not exist"),
    ],
)  # fmt: skip
def test_bad_configuration_is_a_config_error_without_the_secret(overrides, message):
    with pytest.raises(ConfigError) as caught:
        registry().storage_backend("cmis", good(**overrides))
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_defaults_and_string_values_from_the_environment():
    backend = registry().storage_backend(
        "cmis", good(timeout="12.5", retries="3", retry_backoff="0", root_path="/Espace partagé/")
    )
    assert (backend.timeout, backend.retries, backend.retry_backoff) == (12.5, 3, 0.0)
    assert backend.root_path == "/Espace partagé"
    default = registry().storage_backend("cmis", good())
    assert (default.root_path, default.timeout, default.retries) == ("/CRM", 30.0, 2)
    assert "hunter2" not in repr(backend) and "hunter2" not in repr(default)
    assert redact(good())["password"] == "***"


def test_configured_from_toml_and_environment_variables(tmp_path, server, protocol):
    config = tmp_path / "grc.toml"
    config.write_text(
        "[grc]\nstorage_backend = \"cmis\"\n\n[grc.storage.cmis]\n"
        f"url = \"{server.url}{BASE}\"\nuser = \"{USER}\"\nroot_path = \"/CRM\"\ntimeout = 5\n",
        encoding="utf-8",
    )  # fmt: skip
    environ = {"GRC_STORAGE__CMIS__PASSWORD": PASSWORD, "GRC_STORAGE__CMIS__RETRIES": "1"}
    loaded = load_settings(config, environ=environ)
    backends = Backends.from_settings(registry(), loaded)
    try:
        backend = backends.default
        assert backend.retries == 1
        key = backend.put("2026/03/" + "e" * 32, io.BytesIO(b"from env"), size=8)
        assert backend.open(key).read() == b"from env"
        assert protocol.find("/CRM/No company/attachment") is not None
    finally:
        backends.close()


def test_the_password_never_reaches_logs_or_errors(make_backend, server, caplog):
    caplog.set_level(logging.DEBUG)
    backend = make_backend()
    key = backend.put("2026/03/" + "d" * 32, io.BytesIO(b"x"), size=1)
    backend.delete(key)
    wrong = make_backend(password="Wr0ng-" + PASSWORD)
    with pytest.raises(GrcError) as caught:
        wrong.stat(key)
    text = caplog.text + str(caught.value) + repr(backend) + repr(wrong)
    assert caplog.records  # something was logged (urllib3, the adapter)
    assert PASSWORD not in text


# --- repositories ----------------------------------------------------------------------------


@pytest.fixture
def two_repositories(tmp_path):
    protocol = CmisProtocol(
        tmp_path / "store", user=USER, password=PASSWORD, repositories=("-default-", "archive")
    )
    with serve(protocol) as running:
        yield running


def test_several_repositories_need_repository_id(two_repositories):
    backend = cmis_plugin.make_cmis_backend(settings(two_repositories))
    try:
        # cmislib's getDefaultRepository() would silently take the *last* one ("archive").
        with pytest.raises(ConfigError, match=r"2 repositories \('-default-', 'archive'\)"):
            backend.put("2026/03/" + "c" * 32, io.BytesIO(b"x"), size=1)
    finally:
        backend.close()


def test_repository_id_selects_the_repository(two_repositories):
    backend = cmis_plugin.make_cmis_backend(settings(two_repositories, repository_id="-default-"))
    try:
        key = backend.put("2026/03/" + "c" * 32, io.BytesIO(b"x"), size=1)
        assert backend.stat(key).size == 1
    finally:
        backend.close()


def test_an_unknown_repository_id_lists_the_known_ones(server):
    backend = cmis_plugin.make_cmis_backend(settings(server, repository_id="nope"))
    try:
        with pytest.raises(ConfigError, match="no repository 'nope'; its repositories: -default-"):
            backend.stat("whatever")
    finally:
        backend.close()


def test_a_url_that_is_not_a_cmis_service_is_a_clear_storage_error(server):
    backend = cmis_plugin.make_cmis_backend(settings(server, url=server.url + "/alfresco"))
    try:
        with pytest.raises(GrcError, match="CMIS") as caught:
            backend.stat("whatever")
        assert "HTTP 400" in str(caught.value)
    finally:
        backend.close()


def test_tls_bundle_path_is_used(tmp_path):
    bundle = Path(tmp_path / "ca.pem")
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    backend = registry().storage_backend("cmis", good(ca_bundle=str(bundle)))
    assert backend._client.session.verify == str(bundle)
