"""Server-rendered pages: the post list (search, category, pages) and a post."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from .models import Category, Post
from .pages import message

PAGE_SIZE = 10


#: No database stores NUL in text (PostgreSQL raises DataError): a value
#: carrying one is refused with a 400, never passed to a query.
HOSTILE = "\x00"


@require_safe
def post_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    category_name = request.GET.get("category", "").strip()[:80]
    if HOSTILE in q or HOSTILE in category_name:
        return message(request, 400, "Bad Request", "The search contains a character it cannot.")
    posts = Post.objects.published().with_related().search(q)
    category = None
    if category_name:
        category = Category.objects.filter(name__iexact=category_name).first()
        if category is None:
            raise Http404(f"No category {category_name!r}")
        posts = posts.filter(category=category)
    page = Paginator(posts, PAGE_SIZE).get_page(request.GET.get("page"))
    categories = Category.objects.annotate(
        published=Count("posts", filter=Q(posts__status=Post.Status.PUBLISHED))
    ).filter(published__gt=0)
    # Page links keep the current filters.
    keep = request.GET.copy()
    keep.pop("page", None)
    return render(
        request,
        "blog/post_list.html",
        {
            "page": page,
            "q": q,
            "category": category,
            "categories": categories,
            "filters": keep.urlencode(),
        },
    )


@require_safe
def post_detail(request: HttpRequest, slug: str) -> HttpResponse:
    post = Post.objects.with_related().visible_to(request.user).filter(slug=slug).first()
    if post is None:
        raise Http404("No such post")
    return render(request, "blog/post_detail.html", {"post": post})
