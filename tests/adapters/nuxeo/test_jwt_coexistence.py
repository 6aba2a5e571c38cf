"""The jwt/PyJWT conflict (GED-NOTES): one environment, a working Nuxeo adapter *and* a
working SharePoint certificate authentication.

This environment has nuxeo 7.1.0, office365-rest-python-client, msal and PyJWT installed
together (the ``[test]`` extra, like ``pip install 'grc-exchanges[all]'``).  The tests prove
that the Nuxeo backend works end to end while ``jwt`` stays PyJWT and signs RS256 client
assertions exactly as msal does for SharePoint app-only certificate authentication — in this
process, and in fresh interpreters importing the two sides in either order.
"""

from __future__ import annotations

import importlib.metadata
import io
import json
import subprocess
import sys

import pytest

from grc_adapters.nuxeo import _client
from grc_adapters.nuxeo.backend import NuxeoBackend
from grc_core.errors import ConfigError

AUDIENCE = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"

#: What the SharePoint adapter's certificate authentication relies on: msal signing an RS256
#: client assertion with PyJWT (msal.oauth2cli.assertion.JwtAssertionCreator).
SHAREPOINT_SIDE = """
def sharepoint_side():
    import jwt
    import msal
    import office365.sharepoint.client_context  # noqa: F401  (the SharePoint client imports)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from msal.oauth2cli.assertion import JwtAssertionCreator

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    creator = JwtAssertionCreator(pem, "RS256", sha1_thumbprint="A1" * 20)
    assertion = creator.create_normal_assertion(audience=AUDIENCE, issuer="client-id")
    claims = jwt.decode(assertion, key.public_key(), algorithms=["RS256"], audience=AUDIENCE)
    header = jwt.get_unverified_header(assertion)
    return {
        "msal": msal.__version__,
        "iss": claims["iss"],
        "alg": header["alg"],
        "x5t": "x5t" in header,
        "has_pyjwt_api": all(hasattr(jwt, name) for name in ("encode", "decode", "PyJWK")),
    }
"""


def sharepoint_side() -> dict[str, object]:
    namespace: dict[str, object] = {"AUDIENCE": AUDIENCE}
    exec(SHAREPOINT_SIDE, namespace)
    return namespace["sharepoint_side"]()  # type: ignore[operator]


def assert_pyjwt_works(result: dict[str, object]) -> None:
    assert result["alg"] == "RS256"
    assert result["iss"] == "client-id"
    assert result["x5t"] is True
    assert result["has_pyjwt_api"] is True


def test_the_jwt_package_is_pyjwt_and_the_jwt_distribution_is_absent():
    assert importlib.metadata.packages_distributions()["jwt"] == ["PyJWT"]
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        importlib.metadata.distribution("jwt")  # python-jwt, which nuxeo[oauth2] would pull
    assert importlib.metadata.version("nuxeo") == "7.1.0"


def test_nuxeo_end_to_end_and_sharepoint_certificate_signing_in_one_process(
    backend: NuxeoBackend,
):
    uid = backend.put("2026/03/" + "c" * 32, io.BytesIO(b"both adapters"), metadata={})
    with backend.open(uid) as stream:
        assert stream.read() == b"both adapters"
    assert_pyjwt_works(sharepoint_side())
    assert _client.oauth2_is_stand_in()
    assert "authlib" not in sys.modules
    import jwt

    assert importlib.metadata.packages_distributions()["jwt"] == ["PyJWT"]
    assert jwt.__version__ == importlib.metadata.version("PyJWT")


@pytest.mark.parametrize("first", ["nuxeo", "sharepoint"])
def test_either_import_order_works_in_a_fresh_interpreter(first: str):
    script = f"""
import json, sys
AUDIENCE = {AUDIENCE!r}
{SHAREPOINT_SIDE}

def nuxeo_side():
    from grc_adapters.nuxeo import _client
    from grc_adapters.nuxeo.backend import NuxeoBackend
    from grc_adapters.nuxeo.settings import NuxeoSettings
    import nuxeo.auth

    settings = NuxeoSettings.from_config({{"url": "http://127.0.0.1:9/nuxeo/", "token": "t"}})
    NuxeoBackend(settings).close()
    return {{
        "stand_in": _client.oauth2_is_stand_in(),
        "auth": sorted(n for n in ("BasicAuth", "TokenAuth", "JWTAuth") if hasattr(nuxeo.auth, n)),
    }}

if {first!r} == "nuxeo":
    result = {{"nuxeo": nuxeo_side(), "sharepoint": sharepoint_side()}}
else:
    result = {{"sharepoint": sharepoint_side(), "nuxeo": nuxeo_side()}}
result["authlib_imported"] = "authlib" in sys.modules
print(json.dumps(result))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert_pyjwt_works(result["sharepoint"])
    assert result["nuxeo"] == {"stand_in": True, "auth": ["BasicAuth", "JWTAuth", "TokenAuth"]}
    assert result["authlib_imported"] is False


def test_asking_for_oauth2_says_it_is_not_supported_and_why():
    _client.load()
    import nuxeo.auth

    with pytest.raises(ConfigError, match=r"OAuth2 .* not supported .* PyJWT"):
        nuxeo.auth.OAuth2("https://ged.example.com/nuxeo/", client_id="grc")
