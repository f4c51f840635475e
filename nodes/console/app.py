"""The console's ASGI app: sign-in here, the three screens in intake.py, printing.py and
cases.py. Each handler reads the form, makes one or two WindowService calls as the signed-in
clerk, and renders; nothing else."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from nodes.console import cases, intake, printing, zh
from nodes.console.kit import COOKIE, HERE, Kit
from nodes.console.sessions import Session, Sessions
from nodes.console.ukey import Keyring, SignInRefused
from signing.pki import Federation

log = logging.getLogger("tongban.console")


@dataclass(frozen=True)
class ConsoleSettings:
    federation: Federation
    province: str
    node_address: str
    keyring: Path
    secure_cookies: bool = False  # True when served over HTTPS


def create_app(settings: ConsoleSettings) -> Starlette:
    keyring = Keyring(settings.keyring, federation=settings.federation, province=settings.province)
    sessions = Sessions(federation=settings.federation, province=settings.province,
                        node_address=settings.node_address)
    kit = Kit.build(federation=settings.federation, province=settings.province, sessions=sessions)

    async def home(request: Request) -> Response:
        signed = sessions.get(request.cookies.get(COOKIE)) is not None
        return RedirectResponse("/intake" if signed else "/signin", status_code=303)

    async def signin_page(request: Request) -> Response:
        return kit.render(request, "signin.html", None, operator="")

    async def signin(request: Request) -> Response:
        if kit.from_another_site(request):
            return Response("请在本系统的登录页面登录。", status_code=403, media_type="text/plain; charset=utf-8")
        form = await request.form()
        operator, pin = str(form.get("operator", "")), str(form.get("pin", ""))
        try:
            clerk = await kit.call(keyring.unlock, operator, pin)
        except SignInRefused as refused:
            return kit.render(request, "signin.html", None, status_code=403, operator=operator,
                              problem=zh.Problem(str(refused)))
        session = sessions.open(clerk)
        try:  # the node has the last word: it checks the certificate's chain, province and role too
            await kit.call(session.window.search_catalog, "营业执照", limit=1)
        except grpc.RpcError as exc:
            sessions.close(session.token)
            return kit.render(request, "signin.html", None, status_code=403, operator=operator,
                              problem=zh.problem_from_rpc(exc))
        sessions.keep_latest(session)
        response = RedirectResponse("/intake", status_code=303)
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict", secure=settings.secure_cookies)
        return response

    @kit.signed_in
    async def signout(request: Request, session: Session) -> Response:
        sessions.close(session.token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    async def not_found(request: Request, exc: Exception) -> Response:
        session = sessions.get(request.cookies.get(COOKIE))
        return kit.render(request, "error.html", session, status_code=404, problem=zh.Problem("没有这个页面。"))

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("console error on %s", request.url.path, exc_info=exc)
        return kit.render(request, "error.html", None, status_code=500,
                          problem=zh.Problem("系统内部错误，本次操作未完成。请重试；如仍出错请联系系统管理员。"))

    routes = [
        Route("/", home),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        *intake.routes(kit),
        *printing.routes(kit),
        *cases.routes(kit),
        Route("/healthz", lambda request: Response("ok", media_type="text/plain")),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: failed})
    app.state.sessions = sessions
    return app
