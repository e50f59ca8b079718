"""Typed application and request keys of the service (shared by the API, dashboard and app factory)."""

from __future__ import annotations

import procrastinate
from aiohttp import web

from analysis.store import Store
from bot.db.access_log import AccessLog
from bot.db.service_state import DbCapacity, DbRateLimiter
from bot.db.store import ServiceStore
from bot.service.auth import Principal
from bot.service.delivery import Deliveries
from bot.service.feeds import Feeds
from bot.service.login_sessions import LoginSessions
from bot.service.schedules import ScheduleRunner
from bot.sessions.runner import SessionRunner

store_key = web.AppKey("store", Store)  # observations
db_key = web.AppKey("db", ServiceStore)  # the service's own tables
manager_key = web.AppKey("sessions", SessionRunner)
schedules_key = web.AppKey("schedules", ScheduleRunner)
deliveries_key = web.AppKey("deliveries", Deliveries)
principal_key = web.RequestKey("principal", Principal)
via_key = web.RequestKey("via", str)  # how the caller authenticated: "api" (bearer token) or "dashboard" (cookie)
login_sessions_key = web.AppKey("login_sessions", LoginSessions)
capacity_key = web.AppKey("capacity", DbCapacity)  # session caps, counted in the database
limiter_key = web.AppKey("limiter", DbRateLimiter)  # per-address rate limits, counted in the database
access_log_key = web.AppKey("access_log", AccessLog)
feeds_key = web.AppKey("feeds", Feeds)  # subscribed timetable feeds
queue_key = web.AppKey("queue", procrastinate.App)  # a cluster's job queue (PostgreSQL stores only)
