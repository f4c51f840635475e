"""结果打印: the results waiting at this window, each verified before it is shown or printed."""

from __future__ import annotations

from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from nodes.console import zh
from nodes.console.kit import Kit, Refused
from nodes.console.sessions import Session


def routes(kit: Kit) -> list[Route]:
    @kit.signed_in
    async def results(request: Request, session: Session) -> Response:
        try:
            listed = (await kit.call(session.window.list_cases, awaiting_print=True, limit=100)).cases
            problem = None
        except grpc.RpcError as exc:
            listed, problem = [], zh.problem_from_rpc(exc)
        return kit.render(request, "results.html", session, listed=listed, problem=problem)

    async def listing_of(session: Session, number: str) -> Any:
        found = (await kit.call(session.window.list_cases, case_number=number, limit=1)).cases
        return found[0] if found else None

    @kit.signed_in
    async def result(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        try:
            listing = await listing_of(session, number)
            document = await kit.call(session.window.result_document, number)
        except grpc.RpcError as exc:
            return kit.render(request, "result.html", session, status_code=400, number=number, listing=None,
                          report=None, problem=zh.problem_from_rpc(exc))
        if document.pdf:
            session.keep_document(number, document.pdf)
        else:
            session.documents.pop(number, None)
        printed = request.query_params.get("printed", "")
        return kit.render(request, "result.html", session, number=number, listing=listing, report=document.report,
                      passed=document.report.verdict == "TOTAL_PASSED" and bool(document.pdf),
                      printed=printed if printed.isdigit() else "", problem=None)

    @kit.signed_in
    async def certificate(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        pdf = session.documents.get(number)
        if pdf is None:  # not opened in this session, or it did not verify: verify (again) now
            try:
                document = await kit.call(session.window.result_document, number)
            except grpc.RpcError as exc:
                return Response(zh.problem_from_rpc(exc).message, status_code=400, media_type="text/plain; charset=utf-8")
            if not document.pdf:
                return Response("该结果未通过核验，不予显示。", status_code=403, media_type="text/plain; charset=utf-8")
            pdf = document.pdf
            session.keep_document(number, pdf)
        return Response(pdf, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="{number}.pdf"', "Cache-Control": "no-store"})

    @kit.signed_in
    async def print_result(request: Request, session: Session) -> Response:
        number = request.path_params["number"]
        form = await request.form()
        wants_json = request.headers.get("x-requested-with") == "fetch"
        copies_text = str(form.get("copies", "1")).strip()
        reason = str(form.get("reprint_reason", "")).strip()
        try:
            if not (copies_text.isascii() and copies_text.isdigit() and len(copies_text) <= 2):
                raise Refused(zh.Problem(zh.FIELD_HINTS["copies"]))
            # The node verifies again and records the print (clerk, copies, reason) before the
            # browser's print dialog opens: nothing is printed that was not recorded.
            await kit.call(session.window.print, number, copies=int(copies_text), reprint_reason=reason)
        except (grpc.RpcError, Refused) as exc:
            problem = exc.problem if isinstance(exc, Refused) else zh.problem_from_rpc(exc)
            if wants_json:
                return JSONResponse({"error": problem.message, "detail": problem.detail}, status_code=400)
            session.flash = problem
            return RedirectResponse(f"/results/{number}", status_code=303)
        copies = int(copies_text)
        message = f"已记录打印 {copies} 份（操作员 {session.clerk.operator_id}），请在打印对话框中确认。"
        if wants_json:
            return JSONResponse({"ok": True, "message": message, "copies": copies})
        return RedirectResponse(f"/results/{number}?printed={copies}", status_code=303)

    return [
        Route("/results", results),
        Route("/results/{number}", result),
        Route("/results/{number}/certificate.pdf", certificate),
        Route("/results/{number}/print", print_result, methods=["POST"]),
    ]
