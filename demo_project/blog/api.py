"""The blog's JSON API: plain Django views, errors a client can act on.

Every error is ``{"error": "...", "fields": {...}}`` with the right status:
400 (bad JSON, bad parameters, invalid fields, one list of messages per
field), 401 (not logged in), 403 (not allowed, or CSRF), 404, 405 (with
``Allow``), 415 (not JSON); opskit's rate limiter adds 429 (with
``Retry-After`` and the ``RateLimit`` headers).

Authentication is Django's session (log in at ``/accounts/login/``).  CSRF:
the views are ``csrf_exempt`` and enforce Django's CSRF check themselves for
session-authenticated writes, after the authentication check (the pattern
of DRF's ``SessionAuthentication``): an anonymous write answers 401 rather
than a confusing CSRF 403, and a logged-in browser still cannot be driven
by another site.  Clients send the ``csrftoken`` cookie's value in
``X-CSRFToken``.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Max, Min, Q
from django.db.models.functions import Length
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.text import slugify
from django.views import View

from opskit.ratelimit import RateLimitMixin, ratelimit
from opskit.slow import slow_request

from .models import Category, Post, PostQuerySet, Tag
from .tasks import notify_published

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_SEARCH = 200
MAX_TAGS = 10
SLUG_RE = re.compile(r"^[-a-z0-9_]+$")
CREATE_FIELDS = {"title", "content", "status", "category", "tags", "slug"}


class ApiError(Exception):
    """Raised anywhere in a view; :class:`ApiView` turns it into JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        fields: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        body: dict[str, Any] = {"error": self.message}
        if self.fields:
            body["fields"] = self.fields
        resp = JsonResponse(body, status=self.status)
        for name, value in self.headers.items():
            resp[name] = value
        return resp


def error(status: int, message: str, **kwargs: Any) -> JsonResponse:
    return ApiError(status, message, **kwargs).response()


# -- helpers ---------------------------------------------------------------


class _CSRFCheck(CsrfViewMiddleware):
    def _reject(self, request: HttpRequest, reason: str) -> str:
        return reason


def require_user(request: HttpRequest) -> Any:
    """The logged-in user, with Django's CSRF check for unsafe methods."""
    user = request.user
    if not user.is_authenticated:
        raise ApiError(
            401,
            "Authentication required: log in at /accounts/login/.",
            headers={
                "WWW-Authenticate": 'Cookie realm="opskit-demo", form-action="/accounts/login/"'
            },
        )
    if request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
        check = _CSRFCheck(lambda r: HttpResponse())
        check.process_request(request)
        reason = check.process_view(request, None, (), {})  # type: ignore[arg-type]
        if reason:
            raise ApiError(
                403,
                f"CSRF check failed: {reason}. Send the csrftoken cookie's value in X-CSRFToken.",
            )
    return user


def json_body(request: HttpRequest) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise ApiError(415, "Send the body as JSON (Content-Type: application/json).")
    try:
        data = json.loads(request.body or b"")
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid JSON: the body is not UTF-8.")
    except ValueError as exc:
        raise ApiError(400, f"Invalid JSON: {exc}.")
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON: expected an object.")
    return data


def int_param(request: HttpRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ApiError(
            400,
            "Invalid query parameter.",
            fields={name: [f"Must be an integer between {low} and {high}."]},
        )
    return value


def text_param(request: HttpRequest, name: str, max_length: int = MAX_SEARCH) -> str:
    value = request.GET.get(name, "").strip()
    if "\x00" in value:  # PostgreSQL refuses NUL in text: a 400, not a DataError
        raise ApiError(
            400, "Invalid query parameter.", fields={name: ["Must not contain a NUL character."]}
        )
    if len(value) > max_length:
        raise ApiError(
            400,
            "Invalid query parameter.",
            fields={name: [f"At most {max_length} characters."]},
        )
    return value


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def post_json(post: Post, *, content: bool = False) -> dict[str, Any]:
    author = post.author
    data: dict[str, Any] = {
        "id": post.pk,
        "title": post.title,
        "slug": post.slug,
        "status": post.status,
        "author": {
            "id": author.pk,
            "username": author.get_username(),
            "name": author.get_full_name() or author.get_username(),
        },
        "category": post.category.name if post.category else None,
        "tags": [t.name for t in post.tags.all()],
        "created_at": _iso(post.created_at),
        "updated_at": _iso(post.updated_at),
        "published_at": _iso(post.published_at),
        "url": post.get_absolute_url(),
    }
    if content:
        data["content"] = post.content
    else:
        data["excerpt"] = post.excerpt
    return data


def _filtered(request: HttpRequest, qs: PostQuerySet) -> tuple[PostQuerySet, int, int]:
    search = text_param(request, "search")
    category = text_param(request, "category", 80)
    limit = int_param(request, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    if category:
        found = Category.objects.filter(name__iexact=category).first()
        if found is None:
            raise ApiError(
                400,
                "Invalid query parameter.",
                fields={"category": [f"Unknown category {category!r}."]},
            )
        qs = qs.filter(category=found)
    return qs.search(search), limit, offset


def _page(qs: PostQuerySet, limit: int, offset: int) -> dict[str, Any]:
    posts = list(qs[offset : offset + limit])
    return {
        "count": qs.count(),
        "limit": limit,
        "offset": offset,
        "results": [post_json(p) for p in posts],
    }


# -- validation ------------------------------------------------------------


def validate_create(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Check a create payload; return the clean values and the field errors."""
    errors: dict[str, list[str]] = defaultdict(list)
    clean: dict[str, Any] = {}
    for name in sorted(set(data) - CREATE_FIELDS):
        errors[name].append(f"Unknown field. Allowed: {', '.join(sorted(CREATE_FIELDS))}.")
    # PostgreSQL refuses NUL in text: answer before any value reaches a query.
    nul = [
        name
        for name, value in data.items()
        if any(
            isinstance(v, str) and "\x00" in v
            for v in (value if isinstance(value, list) else [value])
        )
    ]
    for name in nul:
        errors[name].append("Must not contain a NUL character.")
    if nul:
        return clean, errors

    for name, max_length in (("title", 200), ("content", 100_000)):
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            errors[name].append("This field is required.")
        elif not isinstance(value, str):
            errors[name].append("Must be a string.")
        elif len(value) > max_length:
            errors[name].append(f"At most {max_length} characters.")
        else:
            clean[name] = value.strip()

    status = data.get("status", Post.Status.DRAFT)
    if status not in Post.Status.values:
        errors["status"].append(f"Must be one of: {', '.join(Post.Status.values)}.")
    else:
        clean["status"] = status

    slug = data.get("slug")
    if slug is not None:
        if not isinstance(slug, str) or not SLUG_RE.match(slug) or len(slug) > 200:
            errors["slug"].append(
                "Must be lowercase letters, digits, hyphens or underscores (at most 200)."
            )
        else:
            clean["slug"] = slug

    category = data.get("category")
    if category is not None:
        if not isinstance(category, str):
            errors["category"].append("Must be a category name (string).")
        else:
            found = Category.objects.filter(name__iexact=category.strip()).first()
            if found is None:
                errors["category"].append(f"Unknown category {category!r}.")
            clean["category"] = found

    tags = data.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        errors["tags"].append("Must be a list of tag names (strings).")
    else:
        names = list(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))
        if len(names) > MAX_TAGS:
            errors["tags"].append(f"At most {MAX_TAGS} tags.")
        if any(len(n) > 50 for n in names):
            errors["tags"].append("A tag name has at most 50 characters.")
        clean["tags"] = names
    return clean, dict(errors)


def unique_slug(title: str) -> str:
    base = slugify(title)[:200] or "post"
    taken = set(Post.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


# -- views -----------------------------------------------------------------


class ApiView(View):
    """JSON 405s and :class:`ApiError` handling for the API's class views."""

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:
        view = super().as_view(**initkwargs)
        # On the view function itself: a mixin's dispatch placed first in the
        # bases (RateLimitMixin) would hide a csrf_exempt on ours.
        view.csrf_exempt = True  # type: ignore[attr-defined]
        return view

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return super().dispatch(request, *args, **kwargs)
        except ApiError as exc:
            return exc.response()

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        allowed = ", ".join(m.upper() for m in self.http_method_names if hasattr(self, m))
        return error(
            405,
            f"Method {request.method} not allowed. Allowed: {allowed}.",
            headers={"Allow": allowed},
        )


def api_view(methods: list[str]) -> Callable[[Any], Any]:
    """The function-view twin of :class:`ApiView`, for sync or async views.

    Marks the view ``csrf_exempt`` by attribute (Django 4.2's decorator
    would turn an async view into a sync one); see the module docstring.
    """
    if "GET" in methods and "HEAD" not in methods:
        methods = [*methods, "HEAD"]
    allowed = ", ".join(methods)

    def refuse(request: HttpRequest) -> JsonResponse | None:
        if request.method in methods:
            return None
        return error(
            405,
            f"Method {request.method} not allowed. Allowed: {allowed}.",
            headers={"Allow": allowed},
        )

    def decorate(view: Any) -> Any:
        wrapped: Any
        if iscoroutinefunction(view):

            @functools.wraps(view)
            async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                refused = refuse(request)
                if refused is not None:
                    return refused
                try:
                    return await view(request, *args, **kwargs)  # type: ignore[no-any-return]
                except ApiError as exc:
                    return exc.response()

        else:

            @functools.wraps(view)
            def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                refused = refuse(request)
                if refused is not None:
                    return refused
                try:
                    return view(request, *args, **kwargs)  # type: ignore[no-any-return]
                except ApiError as exc:
                    return exc.response()

        wrapped.csrf_exempt = True
        return wrapped

    return decorate


class PostCollectionView(RateLimitMixin, ApiView):
    """``GET /api/posts/`` (published, efficient) and ``POST`` (create).

    Creating is limited per user (per address when anonymous); reading is not.
    """

    rate = "20/m"
    key = "user_or_ip"
    methods = ("POST",)
    scope = "api-posts-create"

    def get(self, request: HttpRequest) -> JsonResponse:
        qs, limit, offset = _filtered(request, Post.objects.published().with_related())
        return JsonResponse(_page(qs, limit, offset))

    def post(self, request: HttpRequest) -> JsonResponse:
        user = require_user(request)
        clean, errors = validate_create(json_body(request))
        if not errors and "slug" in clean and Post.objects.filter(slug=clean["slug"]).exists():
            errors["slug"] = ["A post with this slug already exists."]
        if errors:
            raise ApiError(400, "Invalid fields.", fields=errors)
        tag_names: list[str] = clean.pop("tags")
        try:
            with transaction.atomic():
                post = Post(author=user, **clean)
                if not post.slug:
                    post.slug = unique_slug(post.title)
                post.save()
                if tag_names:
                    Tag.objects.bulk_create([Tag(name=n) for n in tag_names], ignore_conflicts=True)
                    post.tags.set(Tag.objects.filter(name__in=tag_names))
        except IntegrityError:
            # Two writers raced for the same slug.
            raise ApiError(
                400, "Invalid fields.", fields={"slug": ["A post with this slug already exists."]}
            )
        post = Post.objects.with_related().get(pk=post.pk)
        resp = JsonResponse(post_json(post, content=True), status=201)
        resp["Location"] = f"/api/posts/{post.pk}/"
        return resp


def _visible_post(request: HttpRequest, pk: int) -> Post:
    post = Post.objects.with_related().visible_to(request.user).filter(pk=pk).first()
    if post is None:
        raise ApiError(404, f"No post with id {pk}.")
    return post


@api_view(["GET"])
def post_detail(request: HttpRequest, pk: int) -> JsonResponse:
    """``GET /api/posts/<id>/``: published posts, and your own drafts."""
    return JsonResponse(post_json(_visible_post(request, pk), content=True))


@api_view(["POST"])
def post_publish(request: HttpRequest, pk: int) -> JsonResponse:
    """``POST /api/posts/<id>/publish/``: the author or staff only."""
    user = require_user(request)
    post = _visible_post(request, pk)
    if post.author_id != user.pk and not user.is_staff:
        raise ApiError(403, "Only the post's author or staff may publish it.")
    changed = post.publish()
    if changed:  # the notification task runs once the publication is committed
        transaction.on_commit(functools.partial(notify_published.delay, post.pk))
    data = post_json(post, content=True)
    data["changed"] = changed
    return JsonResponse(data)


@api_view(["GET"])
def post_list_naive(request: HttpRequest) -> JsonResponse:
    """``GET /api/posts/n-plus-one/``: the list written the naive way, on purpose.

    No ``select_related``/``prefetch_related``: every post costs three more
    queries (author, category, tags), which the query monitor reports.
    """
    qs, limit, offset = _filtered(request, Post.objects.published())
    return JsonResponse(_page(qs, limit, offset))


@api_view(["GET"])
@slow_request(threshold_ms=200)
def analytics(request: HttpRequest) -> JsonResponse:
    """``GET /api/analytics/``: per-author statistics (a deliberately heavy view)."""
    require_user(request)
    published = Q(posts__status=Post.Status.PUBLISHED)
    authors = (
        get_user_model()
        .objects.filter(posts__isnull=False)
        .annotate(
            total=Count("posts", distinct=True),
            published=Count("posts", filter=published, distinct=True),
            drafts=Count("posts", filter=Q(posts__status=Post.Status.DRAFT), distinct=True),
            archived=Count("posts", filter=Q(posts__status=Post.Status.ARCHIVED), distinct=True),
            categories=Count("posts__category", distinct=True),
            first_published=Min("posts__published_at", filter=published),
            last_published=Max("posts__published_at", filter=published),
            avg_words=Avg(Length("posts__content")),
        )
        .order_by("-published", "username")
    )
    tag_counts: dict[int, Counter[str]] = defaultdict(Counter)
    for author_id, tag, n in (
        Post.tags.through.objects.filter(post__status=Post.Status.PUBLISHED)
        .values_list("post__author_id", "tag__name")
        .annotate(n=Count("id"))
    ):
        tag_counts[author_id][tag] = n
    results = [
        {
            "author": {
                "id": a.pk,
                "username": a.get_username(),
                "name": a.get_full_name() or a.get_username(),
            },
            "posts": {
                "total": a.total,
                "published": a.published,
                "draft": a.drafts,
                "archived": a.archived,
            },
            "categories": a.categories,
            "first_published": _iso(a.first_published),
            "last_published": _iso(a.last_published),
            # Characters per word are ~6 in the seed's English; a rough figure.
            "avg_words": round((a.avg_words or 0) / 6),
            "top_tags": [{"tag": t, "posts": n} for t, n in tag_counts[a.pk].most_common(3)],
        }
        for a in authors
    ]
    return JsonResponse({"authors": results, "count": len(results)})


@api_view(["GET"])
@ratelimit(rate="30/m", key="ip", scope="api-search")
async def search(request: HttpRequest) -> JsonResponse:
    """``GET /api/search/?q=``: a small async search, rate-limited per client."""
    q = text_param(request, "q")
    if len(q) < 2:
        raise ApiError(400, "Invalid query parameter.", fields={"q": ["At least 2 characters."]})
    limit = int_param(request, "limit", 10, 1, 50)
    qs = Post.objects.published().search(q).values("id", "title", "slug", "published_at")
    results = [
        {
            "id": p["id"],
            "title": p["title"],
            "url": f"/posts/{p['slug']}/",
            "published_at": _iso(p["published_at"]),
        }
        async for p in qs[:limit]
    ]
    return JsonResponse({"query": q, "count": len(results), "results": results})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """The 404 of unknown ``/api/`` paths (``handler404`` delegates here)."""
    return error(404, f"No API endpoint at {request.path}.")
