"""The console's pages and the few JSON endpoints its script calls. Each handler reads the form,
makes one or two WindowService calls as the signed-in clerk, and renders; nothing else."""

from __future__ import annotations

import json
import logging
import mimetypes
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import grpc
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from nodes.console import zh
from nodes.console.sessions import Session, Sessions
from nodes.console.ukey import Keyring, SignInRefused
from signing.pki import Federation
from tongban_pb import common_pb2

log = logging.getLogger("tongban.console")
HERE = Path(__file__).resolve().parent
COOKIE = "tongban_console"
UPLOAD_CHUNK = 1 << 20
CASE_NUMBER = re.compile(r"^\d{6}-\d{8}-[0-9A-F]{8}$")
POWER_OF_ATTORNEY = ("power_of_attorney", "授权委托书（代办时必需）")

Handler = Callable[[Request, Session], Awaitable[Response]]


@dataclass(frozen=True)
class ConsoleSettings:
    federation: Federation
    province: str
    node_address: str
    keyring: Path
    secure_cookies: bool = False  # True behind HTTPS


def create_app(settings: ConsoleSettings) -> Starlette:
    federation, province = settings.federation, settings.province
    keyring = Keyring(settings.keyring, federation=federation, province=province)
    sessions = Sessions(federation=federation, province=province, node_address=settings.node_address)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["when"] = zh.when
    env.filters["exact"] = lambda iso: zh.when(iso, seconds=True)
    env.filters["operator"] = zh.operator
    env.globals.update(STATUS=zh.STATUS, EVENT=zh.EVENT, VERDICT=zh.VERDICT, IDENTITY_METHODS=zh.IDENTITY_METHODS,
                       RELATIONSHIPS=zh.RELATIONSHIPS, as_json=json.dumps, province_name=lambda c: _province_name(federation, c),
                       department_name=lambda c, d: _department_name(federation, c, d), here=province)

    def render(request: Request, name: str, session: Session | None, status_code: int = 200, **context: Any) -> Response:
        if session is not None and session.flash is not None:
            if not context.get("problem"):
                context["problem"] = session.flash
            session.flash = None
        if session is not None and session.notice:
            context["notice"], session.notice = session.notice, ""
        context.update(session=session, clerk=session.clerk if session else None,
                       csrf=session.csrf if session else "", page=name.removesuffix(".html"))
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(fn, *args, **kwargs)

    def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            session = sessions.get(request.cookies.get(COOKIE))
            if session is None:
                if request.headers.get("x-requested-with") == "fetch":
                    return JSONResponse({"error": "登录已过期，请重新登录。"}, status_code=401)
                return RedirectResponse("/signin", status_code=303)
            if request.method == "POST":
                sent = request.headers.get("x-csrf-token") or (await request.form()).get("csrf")
                if not isinstance(sent, str) or not secrets.compare_digest(sent, session.csrf):
                    return Response("页面已过期，请返回重新操作。", status_code=403, media_type="text/plain; charset=utf-8")
            return await handler(request, session)

        return guarded

    # -- sign-in --------------------------------------------------------------------------

    async def home(request: Request) -> Response:
        signed = sessions.get(request.cookies.get(COOKIE)) is not None
        return RedirectResponse("/intake" if signed else "/signin", status_code=303)

    async def signin_page(request: Request) -> Response:
        return render(request, "signin.html", None, operator="")

    async def signin(request: Request) -> Response:
        form = await request.form()
        operator, pin = str(form.get("operator", "")), str(form.get("pin", ""))
        try:
            clerk = await call(keyring.unlock, operator, pin)
        except SignInRefused as refused:
            return render(request, "signin.html", None, status_code=403, operator=operator,
                          problem=zh.Problem(str(refused)))
        session = sessions.open(clerk)
        try:  # the node has the last word: it checks the certificate chain and revocation too
            await call(session.window.search_catalog, "营业执照", limit=1)
        except grpc.RpcError as exc:
            sessions.close(session.token)
            return render(request, "signin.html", None, status_code=403, operator=operator,
                          problem=zh.problem_from_rpc(exc))
        response = RedirectResponse("/intake", status_code=303)
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict", secure=settings.secure_cookies)
        return response

    @signed_in
    async def signout(request: Request, session: Session) -> Response:
        sessions.close(session.token)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    # -- 收件 -----------------------------------------------------------------------------

    @signed_in
    async def intake(request: Request, session: Session) -> Response:
        query = request.query_params.get("q", "").strip()
        matters, problem = [], None
        if query:
            try:
                matters = list((await call(session.window.search_catalog, query, limit=20)).matters)
            except grpc.RpcError as exc:
                problem = zh.problem_from_rpc(exc)
            if not matters and problem is None:
                problem = zh.Problem(f"没有找到与“{query}”相关的跨省通办事项，请换一个名称、编码或关键词。")
        return render(request, "intake.html", session, query=query, matters=matters, problem=problem)

    async def matter_of(session: Session, code: str) -> common_pb2.MatterInfo | None:
        found = (await call(session.window.search_catalog, code, limit=5)).matters
        return next((m for m in found if m.code == code or code in m.aliases), None)

    def intake_form(request: Request, session: Session, matter: common_pb2.MatterInfo, *,
                    values: dict[str, Any] | None = None, problem: zh.Problem | None = None,
                    status_code: int = 200) -> Response:
        others = sorted(code for code in federation.provinces if code != province)
        materials = [(m.kind, m.name) for m in matter.required_materials] + [POWER_OF_ATTORNEY]
        return render(request, "apply.html", session, status_code=status_code, matter=matter, provinces=others,
                      materials=materials, values=values or {}, problem=problem)

    @signed_in
    async def apply_page(request: Request, session: Session) -> Response:
        code = request.path_params["code"]
        try:
            matter = await matter_of(session, code)
        except grpc.RpcError as exc:
            return render(request, "intake.html", session, query=code, matters=[], problem=zh.problem_from_rpc(exc))
        if matter is None:
            return render(request, "intake.html", session, query=code, matters=[], status_code=404,
                          problem=zh.Problem(f"目录中没有编码为 {code} 的事项。"))
        return intake_form(request, session, matter)

    @signed_in
    async def apply(request: Request, session: Session) -> Response:
        code = request.path_params["code"]
        try:
            matter = await matter_of(session, code)
        except grpc.RpcError as exc:
            return render(request, "intake.html", session, status_code=400, query=code, matters=[],
                          problem=zh.problem_from_rpc(exc))
        if matter is None:
            return RedirectResponse("/intake", status_code=303)
        form = await request.form()
        names = {m.kind: m.name for m in matter.required_materials} | dict([POWER_OF_ATTORNEY])
        values = _application_values(form, names)
        try:
            materials = [await _material(session, kind, form, values) for kind in names]
            has_agent = any(values[k] for k in ("agent_name", "agent_id"))
            case = await call(
                session.window.submit, matter_code=matter.code, competent_province=values["competent_province"],
                applicant_name=values["applicant_name"], applicant_id=values["applicant_id"],
                materials=[m for m in materials if m is not None],
                checklist={kind: True for kind in values["checked"]},
                identity_method=values["identity_method"], identity_verified=values["identity_verified"],
                agent=common_pb2.Agent(name=values["agent_name"], id_number=values["agent_id"],
                                       relationship=values["agent_relationship"]) if has_agent else None,
            )
        except grpc.RpcError as exc:
            return intake_form(request, session, matter, values=values, status_code=400,
                               problem=zh.problem_from_rpc(exc, materials=names))
        return render(request, "submitted.html", session, case=case, matter=matter,
                      applicant=values["applicant_name"])

    @signed_in
    async def upload(request: Request, session: Session) -> Response:
        """XHR upload with a progress bar: the browser's bytes go on to the node as they are read."""
        form = await request.form()
        file, kind = form.get("file"), str(form.get("kind", ""))
        if not isinstance(file, UploadFile) or not file.filename:
            return JSONResponse({"error": "请选择要上传的文件。"}, status_code=400)
        try:
            ref = await _upload(session, kind, file)
        except grpc.RpcError as exc:
            p = zh.problem_from_rpc(exc)
            return JSONResponse({"error": p.message, "detail": p.detail}, status_code=400)
        return JSONResponse({"ref": _ref_json(ref), "file_name": ref.file_name, "size": _size(ref.size)})

    async def _upload(session: Session, kind: str, file: UploadFile) -> common_pb2.MaterialRef:
        name = Path(file.filename or "material").name
        media_type = file.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type == "image/jpg":
            media_type = "image/jpeg"

        def chunks() -> Iterator[bytes]:
            file.file.seek(0)
            while chunk := file.file.read(UPLOAD_CHUNK):
                yield chunk

        return await call(session.window.upload, chunks(), kind=kind, file_name=name, media_type=media_type)

    async def _material(session: Session, kind: str, form: FormData, values: dict[str, Any]) -> common_pb2.MaterialRef | None:
        """A material uploaded already (its reference came back to the page), or one sent with
        the form itself when the browser ran no script."""
        ref = values["refs"].get(kind)
        if ref:
            return common_pb2.MaterialRef(**ref)
        file = form.get(f"file_{kind}")
        if isinstance(file, UploadFile) and file.filename:
            uploaded = await _upload(session, kind, file)
            values["refs"][kind] = _ref_json(uploaded)
            return uploaded
        return None

    # -- 结果打印 ---------------------------------------------------------------------------

    @signed_in
    async def results(request: Request, session: Session) -> Response:
        try:
            listed = (await call(session.window.list_cases, awaiting_print=True, limit=100)).cases
            problem = None
        except grpc.RpcError as exc:
            listed, problem = [], zh.problem_from_rpc(exc)
        return render(request, "results.html", session, listed=listed, problem=problem)

    async def listing_of(session: Session, number: str) -> Any:
        found = (await call(session.window.list_cases, case_number=number, limit=1)).cases
        return found[0] if found else None

    @signed_in
    async def result(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        try:
            listing = await listing_of(session, number)
            document = await call(session.window.result_document, number)
        except grpc.RpcError as exc:
            return render(request, "result.html", session, status_code=400, number=number, listing=None,
                          report=None, problem=zh.problem_from_rpc(exc))
        if document.pdf:
            session.keep_document(number, document.pdf)
        else:
            session.documents.pop(number, None)
        printed = request.query_params.get("printed", "")
        return render(request, "result.html", session, number=number, listing=listing, report=document.report,
                      passed=document.report.verdict == "TOTAL_PASSED" and bool(document.pdf),
                      printed=printed if printed.isdigit() else "", problem=None)

    @signed_in
    async def certificate(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        pdf = session.documents.get(number)
        if pdf is None:  # not opened in this session, or it did not verify: verify (again) now
            try:
                document = await call(session.window.result_document, number)
            except grpc.RpcError as exc:
                return Response(zh.problem_from_rpc(exc).message, status_code=400, media_type="text/plain; charset=utf-8")
            if not document.pdf:
                return Response("该结果未通过核验，不予显示。", status_code=403, media_type="text/plain; charset=utf-8")
            pdf = document.pdf
            session.keep_document(number, pdf)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{number}.pdf"', "Cache-Control": "no-store"})

    @signed_in
    async def print_result(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        form = await request.form()
        wants_json = request.headers.get("x-requested-with") == "fetch"
        copies_text = str(form.get("copies", "1")).strip()
        reason = str(form.get("reprint_reason", "")).strip()
        try:
            if not copies_text.isdigit():
                raise _Refused(zh.Problem(zh.FIELD_HINTS["copies"]))
            receipt = await call(session.window.print, number, copies=int(copies_text), reprint_reason=reason)
        except (grpc.RpcError, _Refused) as exc:
            problem = exc.problem if isinstance(exc, _Refused) else zh.problem_from_rpc(exc)
            if wants_json:
                return JSONResponse({"error": problem.message, "detail": problem.detail}, status_code=400)
            session.flash = problem
            return RedirectResponse(f"/results/{number}", status_code=303)
        copies = int(copies_text)
        message = f"已记录打印 {copies} 份（操作员 {session.clerk.operator_id}），请在打印对话框中确认。"
        if wants_json:
            return JSONResponse({"ok": True, "message": message, "copies": copies})
        return RedirectResponse(f"/results/{number}?printed={copies}", status_code=303)

    # -- 办件查询 ---------------------------------------------------------------------------

    @signed_in
    async def lookup(request: Request, session: Session) -> Response:
        query = request.query_params.get("q", "").strip().upper()
        listed, problem = [], None
        if query and CASE_NUMBER.match(query):
            return RedirectResponse(f"/cases/{query}", status_code=303)
        if query:
            try:
                listed = list((await call(session.window.list_cases, applicant_id_number=query, limit=50)).cases)
                if not listed:
                    problem = zh.Problem("本窗口没有该申请人的办件。")
            except grpc.RpcError as exc:
                problem = zh.problem_from_rpc(exc)
                if "applicant_id_number" in problem.detail:
                    problem = zh.Problem("请输入办件编号（如 340000-20261123-1A2B3C4D）或申请人的18位身份证号码。",
                                         problem.detail)
        return render(request, "lookup.html", session, query=query, listed=listed, problem=problem)

    @signed_in
    async def case_page(request: Request, session: Session) -> Response:
        number = request.path_params["number"].upper()
        try:
            history = await call(session.window.history, number)
        except grpc.RpcError as exc:
            return render(request, "lookup.html", session, query=number, listed=[], status_code=404,
                          problem=zh.problem_from_rpc(exc))
        left, tone = zh.time_left(history.due_at, now=datetime.now(timezone.utc),
                                  paused=history.clock_paused, stopped=history.clock_stopped)
        steps = [_step(e) for e in history.entries]
        supplements = [s for s in steps if s["event"] == "SupplementRequested" and s["node"] != province]
        materials: list[tuple[str, str]] = []
        if history.listing.case.status == "supplement_requested":
            matter = await matter_of(session, history.listing.case.matter_code)
            materials = [(m.kind, m.name) for m in matter.required_materials] if matter else []
        return render(request, "case.html", session, history=history, listing=history.listing, steps=steps,
                      left=left, tone=tone, supplements=supplements, materials=materials, values={})

    @signed_in
    async def supplement(request: Request, session: Session) -> Response:
        """补正 at the counter: the applicant brings what was missing; it goes on to the competent node."""
        number = request.path_params["number"]
        form = await request.form()
        try:
            case = (await call(session.window.get_case, number))
            matter = await matter_of(session, case.matter_code)
            names = {m.kind: m.name for m in matter.required_materials} if matter else {}
            values = _application_values(form, names)
            materials = [m for kind in names if (m := await _material(session, kind, form, values)) is not None]
            if not materials:
                raise _Refused(zh.Problem("请先上传申请人补齐的材料。"))
            await call(session.window.supplement, number, materials)
        except (grpc.RpcError, _Refused) as exc:
            session.flash = exc.problem if isinstance(exc, _Refused) else zh.problem_from_rpc(exc)
            return RedirectResponse(f"/cases/{number}", status_code=303)
        session.notice = f"已收取补正材料 {len(materials)} 份并转送承办地，办结时限继续计算。"
        return RedirectResponse(f"/cases/{number}", status_code=303)

    async def not_found(request: Request, exc: Exception) -> Response:
        session = sessions.get(request.cookies.get(COOKIE))
        return render(request, "error.html", session, status_code=404, problem=zh.Problem("没有这个页面。"))

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("console error on %s", request.url.path, exc_info=exc)
        return render(request, "error.html", None, status_code=500,
                      problem=zh.Problem("系统内部错误，本次操作未完成。请重试；如仍出错请联系系统管理员。"))

    routes = [
        Route("/", home),
        Route("/signin", signin_page, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/intake", intake),
        Route("/intake/{code}", apply_page, methods=["GET"]),
        Route("/intake/{code}", apply, methods=["POST"]),
        Route("/materials", upload, methods=["POST"]),
        Route("/results", results),
        Route("/results/{number}", result),
        Route("/results/{number}/certificate.pdf", certificate),
        Route("/results/{number}/print", print_result, methods=["POST"]),
        Route("/cases", lookup),
        Route("/cases/{number}", case_page),
        Route("/cases/{number}/supplement", supplement, methods=["POST"]),
        Route("/healthz", lambda request: Response("ok", media_type="text/plain")),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 500: failed})
    app.state.sessions = sessions
    return app


class _Refused(Exception):
    def __init__(self, problem: zh.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _application_values(form: FormData, names: dict[str, str]) -> dict[str, Any]:
    text = {k: str(form.get(k, "")).strip() for k in (
        "competent_province", "applicant_name", "applicant_id", "agent_name", "agent_id", "agent_relationship",
        "identity_method")}
    refs = {}
    for kind in names:
        raw = str(form.get(f"ref_{kind}", "")).strip()
        if raw:
            try:
                ref = json.loads(raw)
                fields = {k: ref[k] for k in ("kind", "file_name", "media_type", "size", "sha256")}
                common_pb2.MaterialRef(**fields)  # the right types, or not a reference at all
                refs[kind] = fields
            except (ValueError, KeyError, TypeError):
                pass  # a mangled reference: the material counts as not uploaded
    return {
        **text, "applicant_id": text["applicant_id"].upper(), "agent_id": text["agent_id"].upper(),
        "identity_verified": form.get("identity_verified") == "yes",
        "checked": [k for k in names if form.get(f"check_{k}") == "yes"], "refs": refs,
    }


def _ref_json(ref: common_pb2.MaterialRef) -> dict[str, Any]:
    return {"kind": ref.kind, "file_name": ref.file_name, "media_type": ref.media_type, "size": ref.size,
            "sha256": ref.sha256}


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{max(size // 1024, 1)} KB"


def _step(entry: Any) -> dict[str, Any]:
    detail = json.loads(entry.detail_json or "{}")
    return {"node": entry.node, "event": entry.event, "at": entry.recorded_at, "actor": entry.actor,
            "detail": detail}


def _province_name(federation: Federation, code: str) -> str:
    p = federation.provinces.get(code)
    return p.name if p else code


def _department_name(federation: Federation, code: str, department: str) -> str:
    p = federation.provinces.get(code)
    return p.departments.get(department, department) if p else department
