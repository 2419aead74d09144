"""JWT bearer tokens (accounts.tokens, PyJWT) against the real API: what verifies, what does not
and why (401 with the reason), claims to identity, tenant and scopes, and keys from a JWKS served
by a real HTTP server in the test, rotated while the process runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from accounts import domain, tokens

pytestmark = pytest.mark.usefixtures("auth_on")

SECRET = "a-shared-secret-of-at-least-32-bytes-for-hs256"
ISSUER = "https://idp.example"
AUDIENCE = "duragraph"
SEARCH = "/threads/search"


def claims(**overrides) -> dict:
    now = int(time.time())
    base = {"sub": "ada", "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def call(api, token: str):
    return api.post(SEARCH, {}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")


def refused_because(response) -> str:
    assert response.status_code == 401, response.content
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="duragraph"'
    return response.json()["detail"]


@pytest.fixture
def hs256(auth_on, db):
    auth_on.JWT_SECRET = SECRET
    auth_on.JWT_JWKS_URL = ""
    auth_on.JWT_ALGORITHMS = ["HS256"]
    auth_on.JWT_ISSUER = ISSUER
    auth_on.JWT_AUDIENCE = AUDIENCE
    return auth_on


def hs(payload: dict, secret: str = SECRET, **headers) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


# -- a shared secret (HS256) -----------------------------------------------------------------
def test_a_valid_token_is_accepted_and_names_its_caller(api, hs256):
    assert call(api, hs(claims())).status_code == 200
    principal = tokens.principal_for_token(hs(claims(tenant="acme", scope="api worker")))
    assert principal == domain.Principal(
        identity="jwt:ada",
        tenant="acme",
        scopes=frozenset({"api", "worker"}),
        kind="jwt",
        all_tenants=False,
        display_name="ada",
    )


def test_an_expired_token_is_refused(api, hs256):
    now = int(time.time())
    expired = hs(claims(exp=now - 120))  # beyond the 30 s leeway
    assert refused_because(call(api, expired)) == "The token has expired"
    within_leeway = hs(claims(exp=now - 5))
    assert call(api, within_leeway).status_code == 200


def test_a_token_for_another_audience_is_refused(api, hs256):
    assert refused_because(call(api, hs(claims(aud="someone-else")))) == (
        "Invalid token: Audience doesn't match"
    )
    assert refused_because(call(api, hs(claims(aud=None)))) == (
        'Invalid token: Token is missing the "aud" claim'
    )


def test_a_token_from_another_issuer_is_refused(api, hs256):
    assert refused_because(call(api, hs(claims(iss="https://evil.example")))) == (
        "Invalid token: Invalid issuer"
    )


def test_a_token_signed_with_another_secret_is_refused(api, hs256):
    forged = hs(claims(), secret="another-secret-that-is-also-long-enough!!")
    assert refused_because(call(api, forged)) == "Invalid token: Signature verification failed"
    header, payload, signature = hs(claims()).split(".")
    tampered_payload = base64.urlsafe_b64encode(json.dumps(claims(sub="root")).encode())
    tampered = f"{header}.{tampered_payload.decode().rstrip('=')}.{signature}"
    assert refused_because(call(api, tampered)) == "Invalid token: Signature verification failed"


def test_an_unsigned_token_alg_none_is_refused(api, hs256):
    unsigned = jwt.encode(claims(), None, algorithm="none")
    assert unsigned.endswith(".")
    assert refused_because(call(api, unsigned)) == (
        "Invalid token: The specified alg value is not allowed"
    )


def test_a_token_without_exp_or_without_a_subject_is_refused(api, hs256):
    assert refused_because(call(api, hs(claims(exp=None)))) == (
        'Invalid token: Token is missing the "exp" claim'
    )
    assert refused_because(call(api, hs(claims(sub=None)))) == (
        'Invalid token: Token is missing the "sub" claim'
    )


def test_claims_are_read_from_the_configured_names(api, hs256):
    hs256.JWT_IDENTITY_CLAIM = "email"
    hs256.JWT_TENANT_CLAIM = "org"
    hs256.JWT_SCOPE_CLAIM = "scp"
    token = hs(claims(sub=None, email="ada@example.com", org="acme", scp=["worker", "openid"]))
    principal = tokens.principal_for_token(token)
    assert (principal.identity, principal.tenant, principal.scopes) == (
        "jwt:ada@example.com",
        "acme",
        frozenset({"worker"}),
    )
    assert refused_because(call(api, hs(claims()))) == (
        'Invalid token: Token is missing the "email" claim'
    )


def test_without_our_scopes_a_token_may_call_the_api_and_without_a_tenant_it_has_the_default(hs256):
    principal = tokens.principal_for_token(hs(claims(scope="openid profile")))
    assert principal.scopes == frozenset({"api"})
    assert principal.tenant == domain.DEFAULT_TENANT and principal.tenant_scope == "default"


def test_a_worker_token_calls_the_worker_routes_and_not_the_api(api, hs256):
    worker = hs(claims(scope="worker"))
    assert call(api, worker).status_code == 403
    response = api.get("/api/v1/workers", HTTP_AUTHORIZATION=f"Bearer {worker}")
    assert response.status_code == 200


def test_tokens_are_refused_when_no_jwt_is_configured(api, hs256):
    hs256.JWT_SECRET = ""
    assert refused_because(call(api, hs(claims()))) == "Invalid API key or token"


# -- keys from a JWKS ------------------------------------------------------------------------
class JwksServer:
    """A real HTTP server publishing a JWK set the test can change; it counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.fetches += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def publish(self, *keys: tuple[str, object]) -> None:
        """Publish these ``(kid, private key)``'s public halves, and only these."""
        published = []
        for kid, private in keys:
            if isinstance(private, rsa.RSAPrivateKey):
                jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"alg": "RS256"}
            else:
                jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"alg": "ES256"}
            published.append(jwk | {"kid": kid, "use": "sig"})
        self.keys = published

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks(auth_on, db) -> Iterator[JwksServer]:
    server = JwksServer()
    auth_on.JWT_SECRET = ""
    auth_on.JWT_JWKS_URL = server.url
    auth_on.JWT_ALGORITHMS = ["RS256", "ES256"]
    auth_on.JWT_ISSUER = ISSUER
    auth_on.JWT_AUDIENCE = AUDIENCE
    auth_on.JWT_JWKS_CACHE_SECONDS = 300
    auth_on.JWT_JWKS_COOLDOWN_SECONDS = 0
    yield server
    server.stop()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rs(payload: dict, private, kid: str) -> str:
    algorithm = "RS256" if isinstance(private, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(payload, private, algorithm=algorithm, headers={"kid": kid})


def test_a_token_signed_by_a_published_key_is_accepted_rsa_and_ec(api, jwks):
    first, second = rsa_key(), ec.generate_private_key(ec.SECP256R1())
    jwks.publish(("rsa-1", first), ("ec-1", second))
    assert call(api, rs(claims(), first, "rsa-1")).status_code == 200
    assert call(api, rs(claims(sub="bob"), second, "ec-1")).status_code == 200
    assert jwks.fetches == 1  # the set is kept, not fetched per request


def test_a_rotated_in_key_is_accepted_without_a_restart(api, jwks):
    old, new = rsa_key(), rsa_key()
    jwks.publish(("2024", old))
    assert call(api, rs(claims(), old, "2024")).status_code == 200
    new_token = rs(claims(), new, "2025")
    assert "2025" in refused_because(call(api, new_token))  # not published yet
    jwks.publish(("2024", old), ("2025", new))  # the identity provider rotates
    assert call(api, new_token).status_code == 200
    assert call(api, rs(claims(), old, "2024")).status_code == 200  # both verify meanwhile
    assert jwks.fetches == 3  # first, the unknown kid, the rotated-in one


def test_a_rotated_out_key_stops_verifying_once_the_set_is_kept_no_longer(api, jwks, auth_on):
    lifespan = auth_on.JWT_JWKS_CACHE_SECONDS = 0.2
    old, new = rsa_key(), rsa_key()
    jwks.publish(("2024", old), ("2025", new))
    old_token = rs(claims(), old, "2024")
    assert call(api, old_token).status_code == 200
    fetched = time.monotonic()  # the set was fetched before this
    jwks.publish(("2025", new))  # the identity provider drops the old key
    # What is under test is the set's lifespan passing (a clock, not readiness): wait it out.
    time.sleep(max(0.0, fetched + lifespan - time.monotonic()) + 0.05)
    assert "2024" in refused_because(call(api, old_token))
    assert call(api, rs(claims(), new, "2025")).status_code == 200


def test_unknown_key_ids_fetch_the_set_again_at_most_once_per_cooldown(api, jwks, auth_on):
    auth_on.JWT_JWKS_COOLDOWN_SECONDS = 3600
    jwks.publish(("2024", rsa_key()))
    stranger = rsa_key()
    for attempt in range(5):
        refused_because(call(api, rs(claims(), stranger, f"made-up-{attempt}")))
    assert jwks.fetches == 1  # the first: the cooldown started with it


def test_hs256_signed_with_the_public_key_is_refused(api, jwks):
    """The classic confusion: a token claiming HS256, "signed" with the RSA public key (which
    anyone has) as the HMAC secret. Only RS256/ES256 are accepted with a JWKS."""
    private = rsa_key()
    jwks.publish(("2024", private))
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "2024"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    confused = f"{header}.{payload}.{b64(signature)}"
    assert refused_because(call(api, confused)) == (
        "Invalid token: The specified alg value is not allowed"
    )


def test_with_a_jwks_the_shared_secret_signs_nothing(api, jwks):
    jwks.publish(("2024", rsa_key()))
    assert "Invalid token" in refused_because(call(api, hs(claims(), kid="2024")))


def test_an_unreachable_jwks_refuses_tokens_with_a_reason(api, jwks):
    private = rsa_key()
    jwks.publish(("2024", private))
    jwks.stop()
    assert refused_because(call(api, rs(claims(), private, "2024"))) == (
        "The token's signing keys could not be fetched"
    )
