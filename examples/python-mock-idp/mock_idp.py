"""A keyfob mock IdP for Python tests, with the standard library only (subprocess + urllib).

Starts the standalone ``keyfob-mock-idp`` executable on a free port, drives it through its HTTP
control plane (``/_control``), and stops it. The shape of a pytest fixture::

    import pytest
    from mock_idp import MockIdp

    @pytest.fixture
    def idp():
        with MockIdp() as server:
            yield server

    def test_my_client(idp):
        idp.add_client({"clientId": "svc", "clientSecret": "s3cret", "grantTypes": ["client_credentials"]})
        token = idp.client_credentials("svc", "s3cret")["access_token"]
        ...

The executable is ``$KEYFOB_MOCK_IDP`` (a path, or a command line such as
``node node_modules/@keyfob/mock-idp/bin/mock-idp.mjs``), else ``keyfob-mock-idp`` on ``PATH``.
"""

import base64
import json
import os
import re
import shlex
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["MockIdp", "MockIdpError"]

_LISTENING = re.compile(r"mock IdP listening on (http://\S+)")


class MockIdpError(Exception):
    """The mock IdP did not start, or answered a request with an error status."""


class MockIdp:
    """One mock IdP process: ``with MockIdp() as idp:`` starts it, leaving the block stops it."""

    def __init__(self, command=None, config=None, start_timeout_s=15):
        """``command``: the executable (default ``$KEYFOB_MOCK_IDP`` or ``keyfob-mock-idp``);
        ``config``: a JSON file of users, clients and options (``keyfob-mock-idp --config``)."""
        self.command = shlex.split(command or os.environ.get("KEYFOB_MOCK_IDP", "keyfob-mock-idp"))
        self.config = config
        self.start_timeout_s = start_timeout_s
        self.process = None
        self.issuer = None
        self.discovery = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        """Starts the process on a free port (``--port 0``) and reads the issuer it prints."""
        args = [*self.command, "--port", "0"]
        if self.config is not None:
            args += ["--config", self.config]
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        found = {}

        def read_first_line():
            found["line"] = self.process.stdout.readline()

        reader = threading.Thread(target=read_first_line, daemon=True)
        reader.start()
        reader.join(self.start_timeout_s)
        match = _LISTENING.search(found.get("line", ""))
        if match is None:
            self.process.kill()
            _, stderr = self.process.communicate(timeout=5)
            raise MockIdpError(
                f"{' '.join(args)} did not start within {self.start_timeout_s} s: {stderr.strip()}"
            )
        self.issuer = match.group(1)
        self.discovery = self.get("/.well-known/openid-configuration")
        return self

    def stop(self):
        """Stops the process (SIGTERM, then SIGKILL after 5 s) and closes its pipes."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
        self.process = None

    # HTTP ---------------------------------------------------------------------------------------

    def request(self, method, url, *, json_body=None, form=None, headers=None):
        """One request to the IdP; returns the decoded JSON answer, raises MockIdpError on >= 400."""
        if not url.startswith("http"):
            url = self.issuer + url
        headers = dict(headers or {})
        data = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["content-type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise MockIdpError(f"{method} {url}: {error.code} {error.read().decode()}") from None

    def get(self, path):
        return self.request("GET", path)

    def control(self, method, path, body=None):
        """A control-plane call: ``idp.control("POST", "/users", {...})``."""
        return self.request(method, "/_control" + path, json_body=body if method != "GET" else None)

    # What a test does -------------------------------------------------------------------------------

    def add_user(self, user):
        """Registers a user, e.g. ``{"sub": "ada", "password": "pw", "claims": {"email": ...}}``."""
        return self.control("POST", "/users", user)

    def add_client(self, client):
        """Registers a client, e.g. ``{"clientId": "svc", "clientSecret": "s", "grantTypes": [...]}``."""
        return self.control("POST", "/clients", client)

    def client_credentials(self, client_id, client_secret, scope=None):
        """A client-credentials grant with HTTP Basic client authentication; the token response."""
        basic = base64.b64encode(
            f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}".encode()
        ).decode()
        form = {"grant_type": "client_credentials"}
        if scope:
            form["scope"] = scope
        return self.request(
            "POST",
            self.discovery["token_endpoint"],
            form=form,
            headers={"authorization": f"Basic {basic}"},
        )

    def start_device_login(self, client_id, scope="openid"):
        """The device authorization request: device_code, user_code, verification_uri, ..."""
        return self.request(
            "POST",
            self.discovery["device_authorization_endpoint"],
            form={"client_id": client_id, "scope": scope},
        )

    def approve_device(self, user_code, sub):
        """What the user does in the browser: approves ``user_code`` as user ``sub``."""
        return self.control("POST", f"/devices/{user_code}/approve", {"sub": sub})

    def poll_device_token(self, client_id, device_code):
        """One token poll of the device flow (RFC 8628 section 3.4)."""
        return self.request(
            "POST",
            self.discovery["token_endpoint"],
            form={
                "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                "device_code": device_code,
                "client_id": client_id,
            },
        )

    def userinfo(self, access_token):
        return self.request(
            "GET", self.discovery["userinfo_endpoint"], headers={"authorization": f"Bearer {access_token}"}
        )
