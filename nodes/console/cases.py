"""办件查询: by case number or applicant, the case across provinces, 补正 and the time left."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import grpc
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from nodes.console import zh
from nodes.console.kit import Kit, Refused, application_values, step_of
from nodes.console.sessions import Session

CASE_NUMBER = re.compile(r"^\d{6}-\d{8}-[0-9A-F]{8}$")


def routes(kit: Kit) -> list[Route]:
    @kit.signed_in
    async def lookup(request: Request, session: Session) -> Response:
        query = request.query_params.get("q", "").strip().upper()
        listed, problem = [], None
        if query and CASE_NUMBER.match(query):
            return RedirectResponse(f"/cases/{query}", status_code=303)
        if query:
            try:
                listed = list((await kit.call(session.window.list_cases, applicant_id_number=query, limit=50)).cases)
                if not listed:
                    problem = zh.Problem("本窗口没有该申请人的办件。")
            except grpc.RpcError as exc:
                problem = zh.problem_from_rpc(exc)
                if "applicant_id_number" in problem.detail:
                    problem = zh.Problem("请输入办件编号（如 340000-20261123-1A2B3C4D）或申请人的18位身份证号码。",
                                         problem.detail)
        return kit.render(request, "lookup.html", session, query=query, listed=listed, problem=problem)

    @kit.signed_in
    async def case_page(request: Request, session: Session) -> Response:
        number = request.path_params["number"].upper()
        try:
            history = await kit.call(session.window.history, number)
        except grpc.RpcError as exc:
            return kit.render(request, "lookup.html", session, query=number, listed=[], status_code=404,
                          problem=zh.problem_from_rpc(exc))
        left, tone = zh.time_left(history.due_at, now=datetime.now(timezone.utc),
                                  paused=history.clock_paused, stopped=history.clock_stopped,
                                  withdrawn=history.listing.case.status == "withdrawn")
        steps = [step_of(e) for e in history.entries]
        supplements = [s for s in steps if s["event"] == "SupplementRequested" and s["node"] != kit.province]
        materials: list[tuple[str, str]] = []
        if history.listing.case.status == "supplement_requested":
            matter = await kit.matter_of(session, history.listing.case.matter_code)
            materials = [(m.kind, m.name) for m in matter.required_materials] if matter else []
        return kit.render(request, "case.html", session, history=history, listing=history.listing, steps=steps,
                      left=left, tone=tone, supplements=supplements, materials=materials, values={})

    @kit.signed_in
    async def supplement(request: Request, session: Session) -> Response:
        """补正 at the counter: the applicant brings what was missing; it goes on to the competent node."""
        number = request.path_params["number"]
        form = await request.form()
        try:
            case = (await kit.call(session.window.get_case, number))
            matter = await kit.matter_of(session, case.matter_code)
            names = {m.kind: m.name for m in matter.required_materials} if matter else {}
            values = application_values(form, names)
            materials = [m for kind in names if (m := await kit.material_from_form(session, kind, form, values)) is not None]
            if not materials:
                raise Refused(zh.Problem("请先上传申请人补齐的材料。"))
            await kit.call(session.window.supplement, number, materials)
        except (grpc.RpcError, Refused) as exc:
            session.flash = exc.problem if isinstance(exc, Refused) else zh.problem_from_rpc(exc)
            return RedirectResponse(f"/cases/{number}", status_code=303)
        session.notice = f"已收取补正材料 {len(materials)} 份并转送承办地，办结时限继续计算。"
        return RedirectResponse(f"/cases/{number}", status_code=303)

    return [
        Route("/cases", lookup),
        Route("/cases/{number}", case_page),
        Route("/cases/{number}/supplement", supplement, methods=["POST"]),
    ]
