"""``manage.py seed_blog --posts N``: a realistic blog in a second or two.

Authors, categories, tags and posts with a two-year publishing history,
written with ``bulk_create`` (a few queries per 500 posts, not a few per
post).  Deterministic for a given ``--seed``.  ``--if-empty`` does nothing
when posts exist, so ``make demo`` can run it every time.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from blog.models import Category, Post, Tag

AUTHORS = [
    ("ada", "Ada", "Okafor"),
    ("bjorn", "Björn", "Lindqvist"),
    ("carmen", "Carmen", "Ruiz"),
    ("dmitri", "Dmitri", "Volkov"),
    ("emeka", "Emeka", "Nwosu"),
    ("fatima", "Fatima", "Haddad"),
    ("grace", "Grace", "Chen"),
    ("hiroshi", "Hiroshi", "Tanaka"),
    ("ines", "Inês", "Carvalho"),
    ("jonas", "Jonas", "Weber"),
]
DEMO_USER = ("demo", "Demo", "Reader")

CATEGORIES = {
    "Django": "The framework: models, views, the ORM and the admin.",
    "Python": "The language, its tooling and its ecosystem.",
    "Operations": "Running services in production: deploys, on-call, incidents.",
    "Databases": "PostgreSQL, indexes, query plans and migrations.",
    "Performance": "Latency, throughput and the profiles that explain them.",
    "Security": "Authentication, rate limits and keeping secrets secret.",
    "Observability": "Logs, metrics and traces that answer questions.",
    "Testing": "Tests that catch bugs and stay fast.",
}

TAGS = [
    "postgresql",
    "redis",
    "gunicorn",
    "uvicorn",
    "asgi",
    "wsgi",
    "celery",
    "orm",
    "n-plus-one",
    "indexes",
    "caching",
    "rate-limiting",
    "prometheus",
    "grafana",
    "sentry",
    "logging",
    "json",
    "kubernetes",
    "docker",
    "health-checks",
    "latency",
    "profiling",
    "pytest",
    "migrations",
    "security",
    "csrf",
    "sessions",
    "async",
    "typing",
    "deploys",
    "incidents",
    "sre",
]

TOPICS = [
    "connection pooling",
    "request ids",
    "slow queries",
    "N+1 queries",
    "health probes",
    "rate limits",
    "structured logging",
    "Prometheus histograms",
    "zero-downtime deploys",
    "database indexes",
    "async views",
    "select_related",
    "cache stampedes",
    "graceful shutdown",
    "Redis timeouts",
    "error budgets",
    "load shedding",
    "Sentry breadcrumbs",
    "gunicorn workers",
    "query plans",
    "feature flags",
    "CSRF tokens",
    "session storage",
    "background jobs",
    "log sampling",
]
TITLE_PATTERNS = [
    "What we learned about {t}",
    "A practical guide to {t}",
    "{T} in five minutes",
    "Debugging {t} in production",
    "Why {t} matter more than you think",
    "{T}: a checklist",
    "How we cut p99 latency with {t}",
    "The hidden cost of {t}",
    "Notes from an incident: {t}",
    "Getting {t} right in Django",
]
SENTENCES = [
    "We started by measuring before changing anything, because intuition about latency is usually wrong.",
    "The request log told us which route was slow, and the query count told us why.",
    "Every request now carries an id that shows up in the logs, the metrics exemplars and Sentry.",
    "A single missing select_related turned one query into two hundred and one.",
    "The fix was three lines; finding it took two days without the right telemetry.",
    "Health checks should answer quickly and never wait on a dependency that is down.",
    "Rate limits protect the login form far better than a CAPTCHA ever did for us.",
    "PostgreSQL chose a sequential scan until we added a composite index on status and date.",
    "We graph the 99th percentile, not the mean, because users feel the tail.",
    "Readiness and liveness are different questions, and Kubernetes treats them differently.",
    "Redis timeouts must be shorter than the request budget, or the limiter becomes the outage.",
    "Structured logs are only useful if every line has the same fields.",
    "Gunicorn workers share nothing, so metrics need a multi-process collector.",
    "An async view that calls the ORM still runs the query in a thread.",
    "The slow-request warning fired twice a day, always on the same analytics endpoint.",
    "We keep the runbook next to the dashboard so the on-call engineer finds both at 3 a.m.",
    "Tests run against real PostgreSQL and Redis, because mocks agree with whatever you assume.",
    "Sampling fast successful requests cut log volume by eighty percent without losing errors.",
    "Migrations that lock a large table belong in a maintenance window, or in smaller steps.",
    "Counting queries per request is cheap, and it catches regressions before review does.",
    "Most incidents we had last year began with a deploy and ended with a rollback.",
    "A bounded label set keeps Prometheus healthy; raw paths as labels do not.",
    "We removed the retry loop and the error rate went down, which surprised everyone.",
    "Caching the expensive query helped until the cache expired for every user at once.",
]


def paragraph(rng: random.Random) -> str:
    return " ".join(rng.sample(SENTENCES, rng.randint(3, 6)))


class Command(BaseCommand):
    help = "Create demo authors, categories, tags and posts (bulk inserts)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--posts", type=int, default=300, help="posts to create (default 300)")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when the blog already has posts"
        )
        parser.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")

    def handle(self, *args: Any, **options: Any) -> None:
        count: int = options["posts"]
        if count < 0:
            self.stderr.write("--posts must be >= 0")
            raise SystemExit(2)
        if options["if_empty"] and Post.objects.exists():
            self.stdout.write(f"seed_blog: {Post.objects.count()} posts already, nothing to do")
            return
        rng = random.Random(options["seed"])
        with transaction.atomic():
            authors = self._authors()
            categories = self._categories()
            tags = self._tags()
            created = self._posts(rng, count, authors, categories, tags)
        self.stdout.write(
            f"seed_blog: {created} posts by {len(authors)} authors in {len(categories)} "
            f"categories with {len(tags)} tags (log in as demo / demo)"
        )

    def _authors(self) -> list[Any]:
        User = get_user_model()
        existing = set(User.objects.values_list("username", flat=True))
        # Only the demo account can log in; one hash, not one per author.
        unusable = make_password(None)
        new = [
            User(
                username=u,
                first_name=f,
                last_name=last,
                email=f"{u}@example.com",
                password=unusable,
            )
            for u, f, last in AUTHORS
            if u not in existing
        ]
        if DEMO_USER[0] not in existing:
            u, f, last = DEMO_USER
            new.append(
                User(
                    username=u,
                    first_name=f,
                    last_name=last,
                    email=f"{u}@example.com",
                    password=make_password("demo"),
                )
            )
        User.objects.bulk_create(new)
        return list(User.objects.filter(username__in=[a[0] for a in AUTHORS]).order_by("pk"))

    def _categories(self) -> list[Category]:
        Category.objects.bulk_create(
            [Category(name=n, description=d) for n, d in CATEGORIES.items()],
            ignore_conflicts=True,
        )
        return list(Category.objects.filter(name__in=CATEGORIES).order_by("pk"))

    def _tags(self) -> list[Tag]:
        Tag.objects.bulk_create([Tag(name=n) for n in TAGS], ignore_conflicts=True)
        return list(Tag.objects.filter(name__in=TAGS).order_by("pk"))

    def _posts(
        self,
        rng: random.Random,
        count: int,
        authors: list[Any],
        categories: list[Category],
        tags: list[Tag],
    ) -> int:
        if count == 0:
            return 0
        now = timezone.now()
        start = Post.objects.count()
        taken = set(Post.objects.values_list("slug", flat=True))
        posts: list[Post] = []
        for i in range(count):
            topic = rng.choice(TOPICS)
            title = rng.choice(TITLE_PATTERNS).format(t=topic, T=topic[0].upper() + topic[1:])
            slug = slugify(title)
            n = start + i + 1
            while slug in taken:
                slug = f"{slugify(title)}-{n}"
                n += 1
            taken.add(slug)
            created = now - timedelta(days=rng.uniform(1, 730), minutes=rng.randint(0, 1440))
            status = rng.choices(
                [Post.Status.PUBLISHED, Post.Status.DRAFT, Post.Status.ARCHIVED], [80, 12, 8]
            )[0]
            published = (
                created + timedelta(hours=rng.uniform(1, 72))
                if status != Post.Status.DRAFT
                else None
            )
            if published is not None and published > now:
                published = now
            posts.append(
                Post(
                    title=title,
                    slug=slug,
                    content="\n\n".join(paragraph(rng) for _ in range(rng.randint(3, 7))),
                    status=status,
                    author=rng.choice(authors),
                    category=rng.choice(categories) if rng.random() < 0.92 else None,
                    created_at=created,
                    published_at=published,
                )
            )
        # PostgreSQL returns the ids; SQLite 3.35+ too (Django sets them).
        Post.objects.bulk_create(posts, batch_size=500)
        if any(p.pk is None for p in posts):  # pragma: no cover - old databases
            by_slug = dict(
                Post.objects.filter(slug__in=[p.slug for p in posts]).values_list("slug", "pk")
            )
            for p in posts:
                p.pk = by_slug[p.slug]
        Through = Post.tags.through
        links = [
            Through(post_id=p.pk, tag_id=t.pk)
            for p in posts
            for t in rng.sample(tags, rng.randint(1, 4))
        ]
        Through.objects.bulk_create(links, batch_size=1000)
        return len(posts)
