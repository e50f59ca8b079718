"""Typed application and request keys of the service (shared by the API, dashboard and app factory)."""

from __future__ import annotations

import procrastinate
from aiohttp import web

from analysis.store import Store
from bot.db.store import ServiceStore
from bot.service.auth import Principal
from bot.service.capacity import CapacityGate
from bot.service.delivery import Deliveries
from bot.service.login_sessions import LoginSessions
from bot.service.schedules import ScheduleRunner
from bot.sessions.runner import SessionRunner

store_key = web.AppKey("store", Store)  # observations
db_key = web.AppKey("db", ServiceStore)  # the service's own tables
manager_key = web.AppKey("sessions", SessionRunner)
schedules_key = web.AppKey("schedules", ScheduleRunner)
deliveries_key = web.AppKey("deliveries", Deliveries)
principal_key = web.RequestKey("principal", Principal)
login_sessions_key = web.AppKey("login_sessions", LoginSessions)
capacity_key = web.AppKey("capacity", CapacityGate)
queue_key = web.AppKey("queue", procrastinate.App)  # a cluster's job queue (PostgreSQL stores only)
