"""Runs the keyfob-mock-idp executable the way a test suite would: registers a client through the
control plane, gets a client-credentials token, and logs a user in with the device flow, approving
the code through the control plane. Exits non-zero on the first thing that is not as expected.

    KEYFOB_MOCK_IDP=./keyfob-mock-idp python3 example.py
"""

import json
import sys
import urllib.request

from mock_idp import MockIdp


def jwt_claims(token):
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def main():
    with MockIdp() as idp:
        print(f"mock IdP at {idp.issuer}")

        # A backend service: client credentials.
        idp.add_client(
            {"clientId": "py-service", "clientSecret": "py-secret", "grantTypes": ["client_credentials"]}
        )
        service = idp.client_credentials("py-service", "py-secret")
        claims = jwt_claims(service["access_token"])
        assert service["token_type"].lower() == "bearer", service
        assert claims["iss"] == idp.issuer and claims["client_id"] == "py-service", claims
        print(f"client credentials: a {service['expires_in']} s token for {claims['client_id']}")

        # A user at a terminal: the device flow, approved through the control plane.
        idp.add_user({"sub": "ada", "password": "ada-pw", "claims": {"email": "ada@example.com"}})
        idp.add_client({"clientId": "py-cli", "grantTypes": ["urn:ietf:params:oauth:grant-type:device_code"]})
        device = idp.start_device_login("py-cli", scope="openid email")
        print(f"device login: go to {device['verification_uri']} and enter {device['user_code']}")
        idp.approve_device(device["user_code"], "ada")
        tokens = idp.poll_device_token("py-cli", device["device_code"])
        user = idp.userinfo(tokens["access_token"])
        assert user["sub"] == "ada" and user["email"] == "ada@example.com", user
        assert jwt_claims(tokens["id_token"])["sub"] == "ada"
        print(f"device flow: logged in as {user['sub']} <{user['email']}>")

        # What the IdP saw, from its request journal.
        journal = idp.control("GET", "/journal")
        grants = [entry.get("grantType") for entry in journal if entry["endpoint"] == "token"]
        print(f"token requests in the journal: {grants}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
