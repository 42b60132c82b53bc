"""The app's server (`just app` runs it): Streamlit, plus the routes that must not go through a page.

- `/auth/login?ticket=&next=`: sets the HttpOnly session cookie for a one-time ticket that the
  login form made (app/session.py), then goes back to the page asked for.
- `/auth/logout`: revokes the cookie on the server and clears it.
- `/download/<token>/<name>.csv`: a page's CSV download (app/downloads.py), made when asked for,
  only for the logged-in user it was offered to, logged in the access log.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `streamlit run` puts only app/ on the path

from starlette.requests import Request  # noqa: E402 - importable only after the sys.path line above
from starlette.responses import PlainTextResponse, RedirectResponse, Response  # noqa: E402 - as above
from starlette.routing import Route  # noqa: E402 - as above
from streamlit.starlette import App  # noqa: E402 - as above
from streamlit.web.server.starlette import starlette_gzip_middleware  # noqa: E402 - as above

from app import access, auth, downloads, session  # noqa: E402 - as above
from core.settings import Settings, load_settings  # noqa: E402 - as above

# Streamlit 1.56's compression responders hold back the response start of the types Starlette (>= 1.6)
# leaves uncompressed, fonts and images among them, so those files fail to load. Starlette's own
# responders send it, and already leave audio and video alone, which is all Streamlit's add.
for _responder in (starlette_gzip_middleware._MediaAwareGZipResponder, starlette_gzip_middleware._MediaAwareIdentityResponder):
    _responder.send_with_compression = _responder.__mro__[1].send_with_compression  # type: ignore[method-assign,attr-defined]

PROJECT_DIR = Path(__file__).resolve().parents[1]
ENTRY_POINT = Path(__file__).with_name("streamlit_app.py")
NO_STORE = {"Cache-Control": "no-store"}


def _login(request: Request) -> Response:
    settings = load_settings(PROJECT_DIR)
    token = session.take(request.query_params.get("ticket", ""))
    target = _local_path(request.query_params.get("next", "/"))
    response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    if token is not None:
        _set_cookie(response, settings, token, session.LIFETIME_SECONDS)
    return response


def _logout(request: Request) -> Response:
    settings = load_settings(PROJECT_DIR)
    token = request.cookies.get(session.COOKIE)
    if token:
        session.revoke(settings.meta_path, token)
    response = RedirectResponse("/", status_code=303, headers=NO_STORE)
    _set_cookie(response, settings, "", 0)
    return response


def _download(request: Request) -> Response:
    offer = downloads.find(request.path_params["token"])
    if offer is None:
        return PlainTextResponse("This download has expired: download it again from its page.", status_code=404, headers=NO_STORE)
    from app.components import env_for_auth  # its page caches need Streamlit's runtime, running by the first request

    settings = load_settings(PROJECT_DIR)
    env = env_for_auth()
    users = auth.load_users(settings, env)
    principal = None
    if users:
        user = session.logged_in(request.cookies.get(session.COOKIE), users, session.load_secret(env), settings.meta_path)
        if user is None or (user.name, user.role) != (offer.user, offer.role):
            return PlainTextResponse("Log in to the app to download this.", status_code=403, headers=NO_STORE)
        principal = user.name
    frame = offer.make(offer.role)
    access.downloaded(settings, principal, offer.name, len(frame), offer.page)
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{offer.name}.csv"'}
    return Response(frame.to_csv(index=False), media_type="text/csv", headers=headers)


def _set_cookie(response: Response, settings: Settings, value: str, max_age: int) -> None:
    response.set_cookie(session.COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="lax", secure=settings.app.secure_cookie)


def _local_path(target: str) -> str:
    """`target` when it is a path on this server; `/` for anything that could lead elsewhere."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"


app = App(
    ENTRY_POINT,
    routes=[
        Route("/auth/login", _login),
        Route("/auth/logout", _logout),
        Route(downloads.ROUTE + "/{token}/{filename}", _download),
    ],
)
