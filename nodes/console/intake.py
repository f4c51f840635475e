"""收件: search the catalog, the matter's form, uploads with a progress bar, submit."""

from __future__ import annotations

from typing import Any

import grpc
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nodes.console import zh
from nodes.console.kit import POWER_OF_ATTORNEY, Kit, application_values, ref_json, size_text
from nodes.console.sessions import Session
from tongban_pb import common_pb2


def routes(kit: Kit) -> list[Route]:
    @kit.signed_in
    async def intake(request: Request, session: Session) -> Response:
        query = request.query_params.get("q", "").strip()
        matters, problem = [], None
        if query:
            try:
                matters = list((await kit.call(session.window.search_catalog, query, limit=20)).matters)
            except grpc.RpcError as exc:
                problem = zh.problem_from_rpc(exc)
            if not matters and problem is None:
                problem = zh.Problem(f"没有找到与“{query}”相关的跨省通办事项，请换一个名称、编码或关键词。")
        return kit.render(request, "intake.html", session, query=query, matters=matters, problem=problem)

    def intake_form(request: Request, session: Session, matter: common_pb2.MatterInfo, *,
                    values: dict[str, Any] | None = None, problem: zh.Problem | None = None,
                    status_code: int = 200) -> Response:
        others = sorted(code for code in kit.federation.provinces if code != kit.province)
        materials = [(m.kind, m.name) for m in matter.required_materials] + [POWER_OF_ATTORNEY]
        return kit.render(request, "apply.html", session, status_code=status_code, matter=matter, provinces=others,
                      materials=materials, values=values or {}, problem=problem)

    @kit.signed_in
    async def apply_page(request: Request, session: Session) -> Response:
        code = request.path_params["code"]
        try:
            matter = await kit.matter_of(session, code)
        except grpc.RpcError as exc:
            return kit.render(request, "intake.html", session, query=code, matters=[], problem=zh.problem_from_rpc(exc))
        if matter is None:
            return kit.render(request, "intake.html", session, query=code, matters=[], status_code=404,
                          problem=zh.Problem(f"目录中没有编码为 {code} 的事项。"))
        return intake_form(request, session, matter)

    @kit.signed_in
    async def apply(request: Request, session: Session) -> Response:
        code = request.path_params["code"]
        try:
            matter = await kit.matter_of(session, code)
        except grpc.RpcError as exc:
            return kit.render(request, "intake.html", session, status_code=400, query=code, matters=[],
                          problem=zh.problem_from_rpc(exc))
        if matter is None:
            return RedirectResponse("/intake", status_code=303)
        form = await request.form()
        names = {m.kind: m.name for m in matter.required_materials} | dict([POWER_OF_ATTORNEY])
        values = application_values(form, names)
        try:
            materials = [await kit.material_from_form(session, kind, form, values) for kind in names]
            has_agent = any(values[k] for k in ("agent_name", "agent_id"))
            case = await kit.call(
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
        return kit.render(request, "submitted.html", session, case=case, matter=matter,
                      applicant=values["applicant_name"])

    @kit.signed_in
    async def upload(request: Request, session: Session) -> Response:
        """XHR upload with a progress bar: the browser's bytes go on to the node as they are read."""
        form = await request.form()
        file, kind = form.get("file"), str(form.get("kind", ""))
        if not isinstance(file, UploadFile) or not file.filename:
            return JSONResponse({"error": "请选择要上传的文件。"}, status_code=400)
        try:
            ref = await kit.upload_file(session, kind, file)
        except grpc.RpcError as exc:
            p = zh.problem_from_rpc(exc)
            return JSONResponse({"error": p.message, "detail": p.detail}, status_code=400)
        return JSONResponse({"ref": ref_json(ref), "file_name": ref.file_name, "size": size_text(ref.size)})

    return [
        Route("/intake", intake),
        Route("/intake/{code}", apply_page, methods=["GET"]),
        Route("/intake/{code}", apply, methods=["POST"]),
        Route("/materials", upload, methods=["POST"]),
    ]
