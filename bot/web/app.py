"""The aiohttp application: `init_app(config)` → join pages and the WHIP endpoint.

Routes:
    GET    /join/{code}              the student page (name, privacy notice, share camera)
    GET    /join/{code}/whip         where the page's WHIP offer goes now (in a cluster: a worker)
    POST   /whip/{code}?name=NAME    WHIP publish: SDP offer in, 201 + answer + Location out
    DELETE /whip/{code}/{resource}   WHIP leave
    OPTIONS /whip/{code}             WHIP discovery (Accept-Post)
    GET    /healthz                  liveness

Every refusal is a short text/plain 4xx/5xx from `WhipError`; an unexpected error in one
student's request is a 500 for that request only.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import jinja2
from aiohttp import web

from bot.config import Config
from bot.web import bad_requests, proxies
from bot.web.classroom import Admission, Classroom
from bot.web.receive_pool import ReceivePool
from bot.web.rtc import PeerFactory, receive_video
from bot.web.whip import SDP, WhipError, check_code, check_content_type, check_length, check_name, check_offer

log = logging.getLogger(__name__)

config_key = web.AppKey("config", Config)
classroom_key = web.AppKey("classroom", Classroom)
templates_key = web.AppKey("templates", jinja2.Environment)
#: The receive worker processes (`classroom.receive_workers` >= 1), started with the app.
receive_pool_key: web.AppKey[ReceivePool] = web.AppKey("receive_pool")
#: client address → seconds to wait, or None: the per-address WHIP offer rate limit. The service
#: sets it (counted in its database, `bot.service.rate_limits`); a bare classroom has none.
OfferLimit = Callable[[str], Awaitable[int | None]]
offer_limiter_key: web.AppKey[OfferLimit] = web.AppKey("offer_limiter")
#: class code → (class name, WHIP endpoint URL of the worker that runs the class, "" while none
#: does), or None: no such open class. A `serve` node of a cluster sets it (`bot.cluster.classroom`):
#: its classes' rooms live on the workers, not in this process.
ClassroomLocator = Callable[[str], Awaitable[tuple[str, str] | None]]
classroom_locator_key: web.AppKey[ClassroomLocator] = web.AppKey("classroom_locator")
#: WHIP endpoints answer browsers of any origin (RFC 9725 §4.2): in a cluster the join page comes
#: from a `serve` node and the offer goes to a worker. No credentials are involved; the class code
#: is what admits a camera, as on one machine.
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Location",
        "Access-Control-Allow-Methods": "POST, DELETE, OPTIONS", "Access-Control-Allow-Headers": "Content-Type"}

TEMPLATES = Path(__file__).with_name("templates")


def _error(exc: WhipError) -> web.Response:
    headers = {"Retry-After": str(exc.retry_after_s)} if exc.retry_after_s else None
    return web.Response(status=exc.status, text=exc.message + "\n", headers=headers)


def publish_settings(config: Config) -> dict[str, int]:
    """What the join page asks the browser to send (`classroom.publish_*`): the page's
    getUserMedia constraints and `RTCRtpSender.setParameters` encoding limits."""
    c = config.classroom
    return {"width": c.publish_width, "height": c.publish_height, "fps": c.publish_fps,
            "max_bitrate": c.publish_max_kbps * 1000}


async def _whereabouts(request: web.Request, code: str) -> tuple[str, str]:
    """(class name, WHIP endpoint) of an open class: this process's room, else the worker running it
    (a cluster's `serve` node: "" while no worker does yet); `WhipError` 404 when there is none."""
    check_code(code)
    try:
        room = request.app[classroom_key].room(code)
        return room.class_name, f"/whip/{room.code}"
    except WhipError:
        locate = request.app.get(classroom_locator_key)
        found = await locate(code) if locate is not None else None
        if found is None:
            raise
        return found


async def join_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    try:
        class_name, _ = await _whereabouts(request, code)
    except WhipError as exc:
        return _error(exc)
    config = request.app[config_key]
    html = request.app[templates_key].get_template("join.html").render(
        class_name=class_name, code=code, notice=config.bot.notice, bot_name=config.bot.name,
        publish=publish_settings(config))
    return web.Response(text=html, content_type="text/html")


async def join_endpoint(request: web.Request) -> web.Response:
    """Where the page sends its offer now: {"whip": URL}, "" while the class waits for a worker."""
    try:
        _, whip = await _whereabouts(request, request.match_info["code"])
    except WhipError as exc:
        return _error(exc)
    return web.json_response({"whip": whip}, headers={"Cache-Control": "no-store"})


@web.middleware
async def cors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
               ) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith("/whip/"):
        response.headers.update(CORS)
    return response


async def whip_publish(request: web.Request) -> web.Response:
    config = request.app[config_key]
    try:
        room = request.app[classroom_key].room(check_code(request.match_info["code"]))
        offer_limit = request.app.get(offer_limiter_key)
        wait = await offer_limit(request.remote or "") if offer_limit is not None else None
        if wait is not None:
            raise WhipError(429, "too many camera offers from your address; try again in a moment",
                            retry_after_s=wait)
        check_content_type(request.headers.get("Content-Type", ""))
        check_length(request.content_length, config.classroom.max_body_bytes)
        name = check_name(request.query.get("name"))
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            limit = config.classroom.max_body_bytes
            raise WhipError(413, f"the offer is larger than {limit} bytes") from None
        offer = check_offer(body)
        resource_id, answer = await room.publish(name, offer, client=request.remote or "")
    except WhipError as exc:
        return _error(exc)
    location = f"/whip/{room.code}/{resource_id}"
    return web.Response(status=201, text=answer, content_type=SDP, headers={"Location": location})


async def whip_delete(request: web.Request) -> web.Response:
    try:
        room = request.app[classroom_key].room(check_code(request.match_info["code"]))
    except WhipError as exc:
        return _error(exc)
    if not await room.unpublish(request.match_info["resource"]):
        return web.Response(status=404, text="no such WHIP resource\n")
    return web.Response(status=200)


async def whip_options(request: web.Request) -> web.Response:
    return web.Response(status=204, headers={"Accept-Post": SDP})


async def healthz(request: web.Request) -> web.Response:
    body: dict[str, object] = {"ok": True, "rooms": len(request.app[classroom_key].rooms)}
    pool = request.app.get(receive_pool_key)
    if pool is not None:  # classroom.receive_workers: how many are running now (one may be restarting)
        body["receive_workers"] = {"running": len(pool.pids()), "configured": pool.size, "restarts": pool.restarts}
    return web.json_response(body)


async def _run_receive_pool(app: web.Application) -> AsyncIterator[None]:
    """Starts the receive workers with the server (a worker that cannot start fails the start-up
    with its error) and stops them after the classroom has closed every peer."""
    pool = app[receive_pool_key]
    await pool.start()
    yield
    await pool.close()


async def _close_classroom(app: web.Application) -> AsyncIterator[None]:
    """Closes every student's peer connection when the server stops."""
    yield
    await app[classroom_key].close()


def init_app(config: Config, *, classroom: Classroom | None = None, peers: PeerFactory = receive_video
             ) -> web.Application:
    """The application; `classroom` is shared with the sessions that run in this process.

    With `classroom.receive_workers` >= 1 (and the default `peers`) the students' peer connections
    live in receive worker processes (`bot.web.receive_pool`) that start and stop with the app.
    """
    bad_requests.install()
    # first middleware: every handler sees the client and scheme a trusted proxy reported
    app = web.Application(client_max_size=config.classroom.max_body_bytes, middlewares=[proxies.middleware, cors])
    app[config_key] = config
    app[proxies.trusted_proxies_key] = proxies.parse_proxies(config.service.trusted_proxies)
    c = config.classroom
    if classroom is None and peers is receive_video and c.receive_workers > 0:
        pool = app[receive_pool_key] = ReceivePool(c.receive_workers)
        peers = pool
        app.cleanup_ctx.append(_run_receive_pool)  # before the classroom's: stopped after it
    app[classroom_key] = classroom or Classroom(c.max_students, peers, Admission(
        c.max_students, c.first_media_timeout_s, c.max_pending_per_client, c.receive_rejoin_grace_s))
    app[templates_key] = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    app.cleanup_ctx.append(_close_classroom)
    app.router.add_get("/join/{code}", join_page)
    app.router.add_get("/join/{code}/whip", join_endpoint)
    app.router.add_post("/whip/{code}", whip_publish)
    app.router.add_route("OPTIONS", "/whip/{code}", whip_options)
    app.router.add_route("OPTIONS", "/whip/{code}/{resource}", whip_options)  # CORS preflight of DELETE
    app.router.add_delete("/whip/{code}/{resource}", whip_delete)
    app.router.add_get("/healthz", healthz)
    return app


async def serve_app(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Start `app` on host:port (port 0: any free one); an address that cannot be bound raises
    `OSError` after the runner is cleaned up, so callers only turn it into their own error."""
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
