"""The admin API of ``rehearse serve``, in the spirit of Toxiproxy: list, inject and clear faults
of the catalogue while the fakes run.

- ``GET /admin/faults``: every fault in force, each with its id and where it came from;
- ``POST /admin/faults``: a fault as a scenario's ``[[faults]]`` entry, as JSON (``kind``,
  ``system``, parameters with units in their names, optional ``window``); validated against the
  catalogue; 201 with its id, 400 naming each bad field;
- ``DELETE /admin/faults/{id}``: clear one (204, or 404); ``DELETE /admin/faults``: clear all.

Faults that need a process the server does not have (``engine_crash``: the engine runs
elsewhere) or that only act when the world is built (``missing_subsidiary``) are refused with a
400. Injected faults act at once on the fake's HTTP layer and on webhook delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from rehearse.sim.faults import CATALOGUE, Fault, FaultPlan

NOT_AT_RUN_TIME = ("engine_crash", "missing_subsidiary")
_FAULT = TypeAdapter(Fault)


class FaultEntry(BaseModel):
    id: str
    source: Literal["scenario", "admin"]
    fault: dict[str, Any]


class FaultList(BaseModel):
    faults: list[FaultEntry]


class AdminErrorDetail(BaseModel):
    code: str
    message: str


class AdminError(BaseModel):
    error: AdminErrorDetail


class FaultAdmin:
    """The faults in force; `apply` hands a fresh `FaultPlan` to whoever reads one."""

    def __init__(self, scenario_faults: list, apply: Callable[[FaultPlan], None]) -> None:
        self._apply = apply
        self._entries: dict[str, tuple[str, Any]] = {}
        self._count = 0
        for fault in scenario_faults:
            self._add("scenario", fault)
        self._publish()

    def _add(self, source: str, fault) -> str:
        self._count += 1
        fault_id = f"f{self._count}"
        self._entries[fault_id] = (source, fault)
        return fault_id

    def _publish(self) -> None:
        self._apply(FaultPlan([fault for _, fault in self._entries.values()]))

    def entries(self) -> list[dict[str, Any]]:
        """Every fault in force, in the order it was added."""
        return [{"id": fault_id, "source": source, "fault": fault.model_dump(mode="json", exclude_none=True)}
                for fault_id, (source, fault) in self._entries.items()]

    def inject(self, body: Any) -> tuple[str, Any]:
        """Validate `body` against the catalogue and put it in force; raises ValueError naming
        every bad field."""
        try:
            fault = _FAULT.validate_python(body)
        except ValidationError as error:
            raise ValueError("; ".join(
                f"{'.'.join(str(part) for part in item['loc']) or 'fault'}: {item['msg']}"
                for item in error.errors())) from None
        if fault.kind in NOT_AT_RUN_TIME:
            raise ValueError(f"kind: {fault.kind} cannot be injected at run time (it needs the engine's process "
                             "or acts when the world is built); put it in the scenario")
        fault_id = self._add("admin", fault)
        self._publish()
        return fault_id, fault

    def clear(self, fault_id: str | None = None) -> bool:
        """Clear one fault (False if there is none with that id), or all."""
        if fault_id is None:
            self._entries.clear()
        elif self._entries.pop(fault_id, None) is None:
            return False
        self._publish()
        return True


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def create_admin_app(admin: FaultAdmin) -> FastAPI:
    """The admin API over `admin`."""
    app = FastAPI(title="rehearse admin", version="1.0.0", description=__doc__, docs_url=None, redoc_url=None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid_request", "; ".join(str(item.get("msg")) for item in exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "not_found" if exc.status_code == 404 else "invalid_request", str(exc.detail))

    @app.get("/admin/faults", response_model=FaultList)
    async def list_faults() -> Any:
        """Every fault in force."""
        return {"faults": admin.entries()}

    @app.get("/admin/catalogue")
    async def catalogue() -> Any:
        """Every fault kind: family and what it does."""
        return {kind: {"family": family, "description": text} for kind, (family, text) in sorted(CATALOGUE.items())}

    @app.post("/admin/faults", status_code=201, response_model=FaultEntry,
              responses={400: {"model": AdminError, "description": "Not a fault of the catalogue."}})
    async def inject(request: Request) -> Any:
        """Put a fault in force (a scenario's [[faults]] entry as JSON)."""
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_json", "the body must be a JSON object")
        try:
            fault_id, fault = admin.inject(body)
        except ValueError as error:
            return _error(400, "invalid_fault", str(error))
        return JSONResponse({"id": fault_id, "source": "admin",
                             "fault": fault.model_dump(mode="json", exclude_none=True)}, status_code=201)

    @app.delete("/admin/faults/{fault_id}", status_code=204, response_class=Response, response_model=None,
                responses={404: {"model": AdminError, "description": "No fault with that id."}})
    async def clear_one(fault_id: str) -> Any:
        """Clear one fault."""
        if not admin.clear(fault_id):
            return _error(404, "not_found", f"no fault {fault_id!r}")
        return Response(status_code=204)

    @app.delete("/admin/faults", status_code=204, response_class=Response, response_model=None)
    async def clear_all() -> Any:
        """Clear every fault."""
        admin.clear()
        return Response(status_code=204)

    return app
