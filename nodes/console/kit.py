"""What every page of the console shares: rendering, calling the node off the event loop, the
signed-in guard, and reading a form's materials."""

from __future__ import annotations

import json
import mimetypes
import secrets
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from nodes.console import zh
from nodes.console.sessions import Session, Sessions
from signing.pki import Federation
from tongban_pb import common_pb2

HERE = Path(__file__).resolve().parent
COOKIE = "tongban_console"
UPLOAD_CHUNK = 1 << 20
POWER_OF_ATTORNEY = ("power_of_attorney", "授权委托书（代办时必需）")

Handler = Callable[[Request, Session], Awaitable[Response]]


class Refused(Exception):
    """The console itself refuses before asking the node; the problem says why in Chinese."""

    def __init__(self, problem: zh.Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Kit:
    federation: Federation
    province: str
    sessions: Sessions
    templates: Jinja2Templates

    @classmethod
    def build(cls, *, federation: Federation, province: str, sessions: Sessions) -> Kit:
        templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = templates.env
        env.filters["when"] = zh.when
        env.filters["exact"] = lambda iso: zh.when(iso, seconds=True)
        env.filters["operator"] = zh.operator
        env.globals.update(
            STATUS=zh.STATUS, EVENT=zh.EVENT, VERDICT=zh.VERDICT, IDENTITY_METHODS=zh.IDENTITY_METHODS,
            RELATIONSHIPS=zh.RELATIONSHIPS, as_json=json.dumps, here=province,
            province_name=lambda code: province_name(federation, code),
            department_name=lambda code, key: department_name(federation, code, key),
        )
        return cls(federation=federation, province=province, sessions=sessions, templates=templates)

    def render(self, request: Request, name: str, session: Session | None, status_code: int = 200,
               **context: Any) -> Response:
        if session is not None and session.flash is not None:
            if not context.get("problem"):
                context["problem"] = session.flash
            session.flash = None
        if session is not None and session.notice:
            context["notice"], session.notice = session.notice, ""
        context.update(session=session, clerk=session.clerk if session else None,
                       csrf=session.csrf if session else "", page=name.removesuffix(".html"))
        response = self.templates.TemplateResponse(request, name, context, status_code=status_code)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """gRPC calls block: they run in the thread pool, never on the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)

    @staticmethod
    def from_another_site(request: Request) -> bool:
        """A form posted by another site's page (the browser says so). The sign-in form has no
        session token yet, so this is what keeps a page elsewhere from signing a counter PC in
        under someone else's key."""
        site = request.headers.get("sec-fetch-site")
        if site is not None:  # every current browser says where the form came from: trust it alone
            return site not in ("same-origin", "none")
        origin = request.headers.get("origin")  # an older browser; no header at all: not a browser form
        return origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}"

    def signed_in(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Only for a signed-in clerk; a POST must carry the page's token (no cross-site forms)."""

        async def guarded(request: Request) -> Response:
            session = self.sessions.get(request.cookies.get(COOKIE))
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

    async def matter_of(self, session: Session, code: str) -> common_pb2.MatterInfo | None:
        found = (await self.call(session.window.search_catalog, code, limit=5)).matters
        return next((m for m in found if m.code == code or code in m.aliases), None)

    async def upload_file(self, session: Session, kind: str, file: UploadFile) -> common_pb2.MaterialRef:
        """Stream an uploaded file on to the node as it is read from the request's spool."""
        name = Path(file.filename or "material").name
        media_type = file.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type == "image/jpg":
            media_type = "image/jpeg"

        def chunks() -> Iterator[bytes]:
            file.file.seek(0)
            while chunk := file.file.read(UPLOAD_CHUNK):
                yield chunk

        return await self.call(session.window.upload, chunks(), kind=kind, file_name=name, media_type=media_type)

    async def material_from_form(self, session: Session, kind: str, form: FormData,
                                 values: dict[str, Any]) -> common_pb2.MaterialRef | None:
        """A material uploaded already (its reference came back to the page), or one sent with
        the form itself when the browser ran no script."""
        ref = values["refs"].get(kind)
        if ref:
            return common_pb2.MaterialRef(**ref)
        file = form.get(f"file_{kind}")
        if isinstance(file, UploadFile) and file.filename:
            uploaded = await self.upload_file(session, kind, file)
            values["refs"][kind] = ref_json(uploaded)
            return uploaded
        return None


def application_values(form: FormData, names: dict[str, str]) -> dict[str, Any]:
    """The application form as the clerk filled it (kept to fill the form again after a refusal)."""
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
            except (ValueError, KeyError, TypeError, RecursionError):
                pass  # a mangled reference: the material counts as not uploaded
    return {
        **text, "applicant_id": text["applicant_id"].upper(), "agent_id": text["agent_id"].upper(),
        "identity_verified": form.get("identity_verified") == "yes",
        "checked": [k for k in names if form.get(f"check_{k}") == "yes"], "refs": refs,
    }


def ref_json(ref: common_pb2.MaterialRef) -> dict[str, Any]:
    return {"kind": ref.kind, "file_name": ref.file_name, "media_type": ref.media_type, "size": ref.size,
            "sha256": ref.sha256}


def size_text(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{max(size // 1024, 1)} KB"


def step_of(entry: Any) -> dict[str, Any]:
    detail = json.loads(entry.detail_json or "{}")
    return {"node": entry.node, "event": entry.event, "at": entry.recorded_at, "actor": entry.actor, "detail": detail}


def province_name(federation: Federation, code: str) -> str:
    p = federation.provinces.get(code)
    return p.name if p else code


def department_name(federation: Federation, code: str, department: str) -> str:
    p = federation.provinces.get(code)
    return p.departments.get(department, department) if p else department
