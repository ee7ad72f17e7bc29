"""Notebook: a small Flask app with product analytics on both sides.

- In the browser, posthog-js (the snippet in ``templates/base.html``): page views, autocapture,
  and ``posthog.identify(user.id)`` on every page once the visitor is logged in.
- On the server, the ``posthog`` Python SDK: ``user_signed_up`` and ``plan_upgraded`` (the
  money: server side), each with the user's id, the same id the browser identifies with.

One setting, ``POSTHOG_HOST``, is the server SDK's ``host`` and the template's ``api_host``;
production leaves it at PostHog cloud. Run it by hand with ``python app.py [--port N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from typing import Any

from flask import Flask, jsonify, redirect, render_template, request, session, url_for
from posthog import Posthog
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.serving import make_server


@dataclass
class User:
    id: str
    email: str
    password_hash: str
    plan: str = "free"


def settings_from_env() -> dict[str, Any]:
    """The app's settings, from the environment as in production."""
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-secret"),
        "POSTHOG_KEY": os.environ.get("POSTHOG_KEY", "phc_Nb7fK2pQ9wX4mZ8rT1vL6yH3dS5gJ0cA2eUoRi"),
        "POSTHOG_HOST": os.environ.get("POSTHOG_HOST", "https://us.i.posthog.com"),
        # posthog-python sends its batch every 5 s; an app in another process under test
        # sets a short one (the test cannot reach into that process to flush it).
        "POSTHOG_FLUSH_INTERVAL": float(os.environ.get("POSTHOG_FLUSH_INTERVAL", "5")),
    }


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(settings_from_env())
    app.config.update(overrides or {})
    posthog = Posthog(
        app.config["POSTHOG_KEY"],
        host=app.config["POSTHOG_HOST"],
        flush_interval=app.config["POSTHOG_FLUSH_INTERVAL"],
    )
    app.extensions["posthog"] = posthog
    users: dict[str, User] = {}  # by email; a real app has a database

    def current_user() -> User | None:
        return next((u for u in users.values() if u.id == session.get("user_id")), None)

    @app.context_processor
    def analytics_settings() -> dict[str, Any]:
        # What the snippet in base.html needs: the same key and host as the server SDK.
        return {
            "posthog_key": app.config["POSTHOG_KEY"],
            "posthog_host": app.config["POSTHOG_HOST"],
            "user": current_user(),
        }

    @app.get("/")
    def home() -> str:
        return render_template("home.html")

    @app.route("/signup", methods=["GET", "POST"])
    def signup() -> Any:
        if request.method == "GET":
            return render_template("signup.html", error=None)
        email = request.form["email"].strip().lower()
        if email in users:
            return render_template("signup.html", error="That email already has an account."), 409
        user = User(
            "usr_" + secrets.token_hex(6), email, generate_password_hash(request.form["password"])
        )
        users[email] = user
        session["user_id"] = user.id
        posthog.capture(
            "user_signed_up",
            distinct_id=user.id,
            properties={"signup_method": "email", "$set": {"email": email, "plan": user.plan}},
        )
        return redirect(url_for("notes"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return render_template("login.html", error=None)
        user = users.get(request.form["email"].strip().lower())
        if user is None or not check_password_hash(user.password_hash, request.form["password"]):
            return render_template("login.html", error="Wrong email or password."), 401
        session["user_id"] = user.id
        posthog.capture("user_logged_in", distinct_id=user.id)
        return redirect(url_for("notes"))

    @app.get("/notes")
    def notes() -> Any:
        if current_user() is None:
            return redirect(url_for("login"))
        return render_template("notes.html")

    @app.post("/api/upgrade")
    def upgrade() -> Any:
        user = current_user()
        if user is None:
            return jsonify(error="log in first"), 401
        user.plan = "pro"
        posthog.capture(
            "plan_upgraded",
            distinct_id=user.id,
            properties={"plan": "pro", "price": 8.0, "currency": "USD", "$set": {"plan": "pro"}},
        )
        return jsonify(plan=user.plan)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=5000, help="0: any free port")
    port = parser.parse_args().port
    # posthog-python logs its errors (a bad key, a refused request) and carries on: show them.
    logging.basicConfig(level=logging.WARNING)
    app = create_app()
    server = make_server("127.0.0.1", port, app, threaded=True)
    # A stop (SIGTERM from the test, a deploy, Ctrl-C) ends the server; the posthog client is
    # shut down on the way out, so its last batch is sent, not lost.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Notebook running on http://127.0.0.1:{server.port}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        app.extensions["posthog"].shutdown()


if __name__ == "__main__":
    main()
