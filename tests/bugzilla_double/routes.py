"""The REST routing table: (method, path pattern) -> handler, as Bugzilla 5.2 exposes them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from . import errors as E
from . import handlers_bug as B
from . import handlers_meta as M
from .context import Request

Handler = Callable[..., Any]
_SEG = r"([^/]+)"
_TABLE: list[tuple[str, str, Handler]] = [
        ("GET", "/version", M.version),
        ("GET", "/extensions", M.extensions),
        ("GET", "/login", M.login),
        ("GET", "/logout", M.logout),
        ("GET", "/valid_login", M.valid_login),
        ("GET", "/user", M.get_users),
        ("GET", f"/user/{_SEG}", M.get_users),
        ("POST", "/user", M.create_user),
        ("PUT", f"/user/{_SEG}", M.update_user),
        ("GET", "/product", M.get_products),
        ("GET", "/product/get", M.get_products),
        ("GET", f"/product/{_SEG}", M.get_products),
        ("POST", "/product", M.create_product),
        ("GET", "/product_selectable", M.product_ids),
        ("GET", "/product_enterable", M.product_ids),
        ("GET", "/product_accessible", M.product_ids),
        ("GET", "/field/bug", M.get_fields),
        ("GET", f"/field/bug/{_SEG}", M.get_fields),
        ("GET", f"/flag_type/{_SEG}", M.flag_types),
        ("GET", f"/flag_type/{_SEG}/{_SEG}", M.flag_types),
        ("POST", "/component", M.create_component),
        ("GET", "/bug", B.search_bugs),
        ("POST", "/bug", B.post_bug),
        ("PUT", "/bug", B.put_bug),
        ("GET", r"/bug/comment/(\d+)", B.get_comment_by_id),
        ("GET", r"/bug/attachment/(\d+)", B.get_attachment_by_id),
        ("GET", f"/bug/{_SEG}", B.get_bug),
        ("PUT", f"/bug/{_SEG}", B.put_bug),
        ("GET", f"/bug/{_SEG}/comment", B.get_comments),
        ("POST", f"/bug/{_SEG}/comment", B.post_comment),
        ("GET", f"/bug/{_SEG}/history", B.get_history),
        ("GET", f"/bug/{_SEG}/attachment", B.get_attachments),
        ("POST", f"/bug/{_SEG}/attachment", B.post_attachment),
]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{pattern}/?$"), handler) for method, pattern, handler in _TABLE
]


def dispatch(req: Request) -> tuple[int, Any]:
    """Runs the matching handler; returns (HTTP status, JSON object)."""
    for method, pattern, handler in ROUTES:
        if method != req.method:
            continue
        match = pattern.match(req.path)
        if match:
            result = handler(req, *(unquote(g) for g in match.groups()))
            if isinstance(result, tuple):
                return int(result[0]), result[1]
            return 200, result
    raise E.resource_not_found(req.method, req.path)
