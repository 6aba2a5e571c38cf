"""Settings of the HTTP API: authentication, CORS, proxies, limits.

A host passes an :class:`ApiSettings` to :func:`grc_api.create_app`; ``grc serve`` builds one
from ``GRC_API_*`` environment variables (:meth:`ApiSettings.from_env`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from grc_core.errors import ConfigError

#: Signature algorithms accepted for OpenID Connect tokens when none are configured.
#: Asymmetric only: ``none`` and the HMAC family (HS*) are never accepted, since an HMAC
#: "signed" with a public key is how JWT libraries have been fooled before.
DEFAULT_OIDC_ALGORITHMS = ("RS256", "PS256", "ES256")
REFUSED_ALGORITHMS = frozenset({"none", "HS256", "HS384", "HS512"})


@dataclass(frozen=True)
class OidcSettings:
    """The identity provider whose bearer JWTs are accepted.

    :param issuer: the ``iss`` every token must carry (e.g.
        ``https://login.microsoftonline.com/<tenant>/v2.0``).
    :param audience: the ``aud`` every token must carry (the API's client id or URI).
    :param jwks_url: where the provider publishes its signing keys.
    :param login_claim: the claim holding the GRC login (``preferred_username``,
        ``upn``, ``email``…); it is lower-cased and, for an e-mail-like value, also tried
        against users' ``external_ref``.
    :param algorithms: the signature algorithms accepted.
    :param leeway: seconds of clock skew tolerated on ``exp`` and ``nbf``.
    :param client_id: the client the web app signs in as (authorization code flow with
        PKCE, ``/api/v1/session/oidc/start``); default: ``audience``.  The ID tokens the
        provider returns must name it in ``aud``.
    :param client_secret: the client's secret, for a provider that treats the web app as
        a confidential client (PKCE alone suffices for a public one).
    :param scopes: the scopes asked for at sign-in.
    """

    issuer: str
    audience: str
    jwks_url: str
    login_claim: str = "preferred_username"
    algorithms: tuple[str, ...] = DEFAULT_OIDC_ALGORITHMS
    leeway: int = 30
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    scopes: str = "openid profile email"

    def __post_init__(self) -> None:
        if not self.issuer or not self.audience or not self.jwks_url:
            raise ConfigError("OpenID Connect needs an issuer, an audience and a JWKS URL")
        bad = [a for a in self.algorithms if a in REFUSED_ALGORITHMS or a.startswith("HS")]
        if bad or not self.algorithms:
            raise ConfigError(
                f"OpenID Connect algorithms {', '.join(bad) or '(none)'} are refused; "
                "accepted: asymmetric ones such as RS256, PS256, ES256, EdDSA"
            )


@dataclass(frozen=True)
class ApiSettings:
    """How the API authenticates, whom it trusts and what it accepts.

    :param oidc: the identity provider, or ``None`` to accept API tokens only.
    :param api_tokens: accept personal API tokens (``grc token create``).
    :param cors_origins: origins allowed to call the API from a browser (closed if empty).
    :param trusted_proxies: addresses or networks whose ``X-Forwarded-For`` /
        ``X-Forwarded-Proto`` headers are believed; anyone else's are ignored.
    :param max_body: largest request body in bytes, attachments excepted (they are
        bounded by the attachment policy).
    :param auth_failures: failed authentications allowed per client per ``auth_window``
        seconds; beyond, the client gets 429 until the window passes.
    :param tls: the server is reached over HTTPS (adds ``Strict-Transport-Security``).
    :param docs: serve the interactive documentation at ``/api/v1/docs``.
    :param credential_cache: seconds a verified credential is remembered by a process, so
        that a request costs no extra transaction; a token revoked elsewhere (another
        process, the command line) stops working within this delay, at once in the process
        that revoked it.  Deactivating a user takes effect at once (every request loads the
        acting user).  ``0`` checks every request.  Device sessions are remembered alike.
    :param shared_limiter: count failed authentications in the database, so that the
        limit holds across every worker process and server (``grc serve`` does); otherwise
        each process counts its own, and with ``n`` workers a client may fail up to
        ``n × auth_failures`` times per window.
    :param base_url: the address users reach the server at (``https://grc.example.com``),
        for enrolment links and the OpenID Connect redirect; default: the request's own.
    :param session_days: how long an enrolled device stays signed in unless revoked.
    :param web: serve the mobile web application at ``/``.
    """

    oidc: OidcSettings | None = None
    api_tokens: bool = True
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    max_body: int = 1024 * 1024
    auth_failures: int = 10
    auth_window: float = 60.0
    tls: bool = False
    docs: bool = True
    credential_cache: float = 5.0
    shared_limiter: bool = False
    base_url: str | None = None
    session_days: int = 180
    web: bool = True
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = field(
        default=(), init=False, repr=False
    )

    def __post_init__(self) -> None:
        nets = []
        for proxy in self.trusted_proxies:
            try:
                nets.append(ipaddress.ip_network(proxy.strip(), strict=False))
            except ValueError:
                raise ConfigError(
                    f"trusted proxy {proxy!r} is not an IP address or network "
                    "(e.g. 127.0.0.1 or 10.0.0.0/8)"
                ) from None
        object.__setattr__(self, "networks", tuple(nets))
        if self.max_body < 1024:
            raise ConfigError(f"max_body must be at least 1024 bytes, got {self.max_body}")
        if self.auth_failures < 1 or self.auth_window <= 0:
            raise ConfigError("auth_failures must be at least 1 and auth_window positive")
        if not 1 <= self.session_days <= 3650:
            raise ConfigError(f"session_days must be from 1 to 3650, got {self.session_days}")
        if self.base_url is not None:
            if not self.base_url.startswith(("http://", "https://")):
                raise ConfigError(f"base_url {self.base_url!r} must start with https://")
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def trusts(self, address: str | None) -> bool:
        """True when ``address`` is a configured proxy."""
        if not address or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ApiSettings:
        """Settings from ``GRC_API_*`` variables.

        ``GRC_API_OIDC_ISSUER``, ``GRC_API_OIDC_AUDIENCE``, ``GRC_API_OIDC_JWKS_URL``,
        ``GRC_API_OIDC_LOGIN_CLAIM``, ``GRC_API_OIDC_ALGORITHMS`` (comma-separated),
        ``GRC_API_CORS_ORIGINS`` and ``GRC_API_TRUSTED_PROXIES`` (comma-separated),
        ``GRC_API_MAX_BODY`` (bytes), ``GRC_API_TOKENS`` (``0`` to refuse API tokens),
        ``GRC_API_TLS`` (``1`` when clients reach the server over HTTPS: adds HSTS),
        ``GRC_API_BASE_URL``, ``GRC_API_SESSION_DAYS``, ``GRC_API_SHARED_LIMITER`` (``0`` to
        count failed authentications per process; shared by default),
        ``GRC_API_OIDC_CLIENT_ID``, ``GRC_API_OIDC_CLIENT_SECRET``, ``GRC_API_OIDC_SCOPES``,
        ``GRC_API_WEB`` (``0`` not to serve the web application).
        """
        env = os.environ if environ is None else environ

        def items(name: str) -> tuple[str, ...]:
            return tuple(p.strip() for p in env.get(name, "").split(",") if p.strip())

        oidc = None
        if env.get("GRC_API_OIDC_ISSUER"):
            oidc = OidcSettings(
                issuer=env["GRC_API_OIDC_ISSUER"],
                audience=env.get("GRC_API_OIDC_AUDIENCE", ""),
                jwks_url=env.get("GRC_API_OIDC_JWKS_URL", ""),
                login_claim=env.get("GRC_API_OIDC_LOGIN_CLAIM", "preferred_username"),
                algorithms=items("GRC_API_OIDC_ALGORITHMS") or DEFAULT_OIDC_ALGORITHMS,
                client_id=env.get("GRC_API_OIDC_CLIENT_ID") or None,
                client_secret=env.get("GRC_API_OIDC_CLIENT_SECRET") or None,
                scopes=env.get("GRC_API_OIDC_SCOPES") or "openid profile email",
            )
        try:
            max_body = int(env.get("GRC_API_MAX_BODY", 1024 * 1024))
        except ValueError:
            raise ConfigError("GRC_API_MAX_BODY must be a number of bytes") from None
        try:
            days = int(env.get("GRC_API_SESSION_DAYS", 180))
        except ValueError:
            raise ConfigError("GRC_API_SESSION_DAYS must be a number of days") from None
        off = ("0", "false", "no")
        values: dict[str, object] = {
            "oidc": oidc,
            "api_tokens": env.get("GRC_API_TOKENS", "1") not in ("0", "false", "no"),
            "cors_origins": items("GRC_API_CORS_ORIGINS"),
            "trusted_proxies": items("GRC_API_TRUSTED_PROXIES"),
            "max_body": max_body,
            "tls": env.get("GRC_API_TLS", "0") in ("1", "true", "yes"),
            "shared_limiter": env.get("GRC_API_SHARED_LIMITER", "1") not in off,
            "base_url": env.get("GRC_API_BASE_URL") or None,
            "session_days": days,
            "web": env.get("GRC_API_WEB", "1") not in off,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
