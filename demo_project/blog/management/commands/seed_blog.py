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

#: What a category's posts say whatever their topic.
CATEGORY_SENTENCES = {
    "Django": [
        "Django gives you the pieces; how you put them together decides how the site behaves under load.",
        "We keep views thin and push the query logic into managers, where it can be tested on its own.",
        "The admin is a tool for staff, not a public page, and we treat its queries with the same care.",
        "Every change ships with a test that exercises the view through Django's test client.",
    ],
    "Python": [
        "Python rewards code that says what it means, and punishes cleverness a year later.",
        "We pin the interpreter version in CI and in the container, so nobody debugs two Pythons.",
        "The standard library covers more than people remember; we check it before adding a dependency.",
        "Readable code is the cheapest documentation a team can buy.",
    ],
    "Operations": [
        "Most incidents we had last year began with a deploy and ended with a rollback.",
        "We keep the runbook next to the dashboard so the on-call engineer finds both at 3 a.m.",
        "A change that cannot be rolled back in five minutes is not ready to ship.",
        "Every alert must say what broke and what to do first, or it gets deleted.",
    ],
    "Databases": [
        "PostgreSQL tells you exactly what it did if you ask it with EXPLAIN ANALYZE.",
        "The database is usually the first thing to saturate, so we measure it first.",
        "Schema changes on a busy table need a plan for locks, not just a migration file.",
        "Every query in a hot path has an index behind it and a test that counts it.",
    ],
    "Performance": [
        "We graph the 99th percentile, not the mean, because users feel the tail.",
        "We started by measuring before changing anything, because intuition about latency is usually wrong.",
        "A profile of one slow request is worth more than a day of guessing.",
        "The fastest code is the query you did not send.",
    ],
    "Security": [
        "Secrets live in the environment or a vault, never in the repository or the logs.",
        "We assume every header can be forged unless a trusted proxy set it.",
        "Defaults should be safe; anything risky has to be switched on by name.",
        "A security fix without a test that fails before it is only half a fix.",
    ],
    "Observability": [
        "Every request carries an id that shows up in the logs, the metrics and Sentry.",
        "Structured logs are only useful if every line has the same fields.",
        "A dashboard should answer one question at a glance, or it is a wall of noise.",
        "We can now go from an alert to the exact request that caused it in under a minute.",
    ],
    "Testing": [
        "Tests run against real PostgreSQL and Redis, because mocks agree with whatever you assume.",
        "A test that cannot fail is worse than no test: it hides the gap.",
        "The suite runs in under five minutes, so people actually run it before pushing.",
        "Flaky tests get fixed or deleted the day they flake, never retried in silence.",
    ],
}

#: Topic -> (category, tags, what a post about it says).
TOPICS: dict[str, tuple[str, list[str], list[str]]] = {
    "select_related": (
        "Django",
        ["orm", "n-plus-one"],
        [
            "A single missing select_related turned one query into two hundred and one.",
            "select_related follows foreign keys in the same query with a join; prefetch_related runs one more query per relation.",
            "The list view now runs three queries for any page size, and a test keeps it that way.",
            "We found the loop by reading the query monitor's N+1 report, which named the template line.",
            "Joining too much is a cost as well: we only follow the relations the page shows.",
        ],
    ),
    "async views": (
        "Django",
        ["async", "asgi"],
        [
            "An async view that calls the ORM still runs the query in a thread.",
            "Async views pay off when the view waits on the network, not when it waits on the database.",
            "Under ASGI the request id still follows the request, because it lives in a context variable.",
            "We moved the search endpoint to an async view and kept the rest synchronous.",
            "Mixing sync and async middleware costs a thread hop per layer; we removed the ones we did not need.",
        ],
    ),
    "CSRF tokens": (
        "Django",
        ["csrf", "sessions", "security"],
        [
            "Django's CSRF check protects every form that changes state, as long as nobody turns it off.",
            "Our JSON API uses the session too, so it checks the CSRF token after authentication, as DRF does.",
            "An anonymous write gets a clear 401 instead of a confusing CSRF failure.",
            "The token lives in a cookie and comes back in the X-CSRFToken header.",
            "We never exempt a view from CSRF without a comment that says why.",
        ],
    ),
    "type hints": (
        "Python",
        ["typing"],
        [
            "mypy in strict mode found three real bugs in the first week.",
            "Type hints are documentation the computer checks for us.",
            "We annotate the public functions first; internal helpers follow when they change.",
            "A Protocol describes what a function needs, not which class it must get.",
            "django-stubs makes querysets and model fields visible to the type checker.",
        ],
    ),
    "packaging": (
        "Python",
        ["pytest"],
        [
            "The wheel we test is the wheel we ship, installed into a fresh virtual environment.",
            "pyproject.toml now holds the metadata, the dependencies and the tool settings in one place.",
            "An extra for each optional backend keeps the default install small.",
            "twine check catches a broken long description before the package index does.",
            "We build the sdist and the wheel with the standard build frontend, never by hand.",
        ],
    ),
    "structured logging": (
        "Python",
        ["logging", "json"],
        [
            "Every log line is one JSON object, so the log pipeline never has to guess.",
            "python-json-logger turns the standard logging module into JSON without a new API.",
            "The request id is added by a logging filter, so libraries' own log lines carry it too.",
            "Sampling fast successful requests cut log volume by eighty percent without losing errors.",
            "Secrets are redacted before a line is written, not by the log collector afterwards.",
        ],
    ),
    "zero-downtime deploys": (
        "Operations",
        ["deploys", "kubernetes"],
        [
            "A readiness probe that fails during shutdown lets the load balancer drain the pod first.",
            "Migrations run before the new code starts, and they are always backwards compatible.",
            "We deploy twenty times a day now, and nobody schedules a maintenance window.",
            "Rolling updates only work when old and new versions can serve side by side.",
            "The deploy pipeline waits for the error rate to settle before it moves on.",
        ],
    ),
    "health probes": (
        "Operations",
        ["health-checks", "kubernetes"],
        [
            "Readiness and liveness are different questions, and Kubernetes treats them differently.",
            "Health checks should answer quickly and never wait on a dependency that is down.",
            "A liveness probe that checks the database restarts every pod during a database outage.",
            "Our readiness probe answers within its deadline even when Redis hangs.",
            "The probe's timeout is shorter than the kubelet's, so a slow check reports a failure instead of hanging.",
        ],
    ),
    "incident reviews": (
        "Operations",
        ["incidents", "sre"],
        [
            "The review asks what made the mistake easy, not who made it.",
            "Every incident review ends with at most three actions, each with an owner.",
            "The timeline comes from the logs, which is why every line has a timestamp and a request id.",
            "We removed the retry loop and the error rate went down, which surprised everyone.",
            "Writing the review the same week keeps the details honest.",
        ],
    ),
    "database indexes": (
        "Databases",
        ["postgresql", "indexes"],
        [
            "PostgreSQL chose a sequential scan until we added a composite index on status and date.",
            "An index that no query uses still slows down every write.",
            "The column order of a composite index follows the query's filters, then its sort.",
            "Partial indexes on the published rows kept the index small and hot.",
            "We create large indexes concurrently so the table stays writable.",
        ],
    ),
    "query plans": (
        "Databases",
        ["postgresql", "latency"],
        [
            "EXPLAIN ANALYZE showed the planner expecting ten rows and getting ten thousand.",
            "Fresh statistics fixed the plan; ANALYZE now runs after every bulk load.",
            "A plan that is fast on a laptop can be slow on production data, so we read plans from production.",
            "Nested loops are fine for a few rows and a disaster for many.",
            "We log slow queries with their fingerprint, so one bad shape is one line of the report.",
        ],
    ),
    "migrations": (
        "Databases",
        ["migrations", "postgresql"],
        [
            "Migrations that lock a large table belong in a maintenance window, or in smaller steps.",
            "Adding a column with a default is instant on recent PostgreSQL; backfilling it is not.",
            "We split a risky migration into add, backfill and enforce, each shipped on its own.",
            "The startup probe fails while migrations are pending, so no pod serves the old schema.",
            "Every migration is reviewed for the locks it takes, not just for the fields it adds.",
        ],
    ),
    "N+1 queries": (
        "Performance",
        ["n-plus-one", "orm"],
        [
            "Counting queries per request is cheap, and it catches regressions before review does.",
            "The N+1 report names the call site, so the fix starts at the right line.",
            "Twenty queries of two milliseconds each cost more than one query of ten.",
            "A test asserts the query count of every list endpoint.",
            "The request log's query count made the pattern visible long before anyone complained.",
        ],
    ),
    "caching": (
        "Performance",
        ["caching", "redis"],
        [
            "Caching the expensive query helped until the cache expired for every user at once.",
            "We add jitter to expiry times so keys do not all expire in the same second.",
            "A cache is a copy; every copy needs a rule for when it is wrong.",
            "Redis timeouts must be shorter than the request budget, or the cache becomes the outage.",
            "The hit ratio is on the dashboard next to the latency it is supposed to improve.",
        ],
    ),
    "gunicorn workers": (
        "Performance",
        ["gunicorn", "wsgi"],
        [
            "Gunicorn workers share nothing, so metrics need a multi-process collector.",
            "Two workers per core was a good start; measuring under load gave the real number.",
            "A worker that takes too long is killed by the timeout, and the log line says which request it was.",
            "Threads help when views wait on the network; processes help when they use the CPU.",
            "max_requests with jitter recycles workers before memory growth becomes a problem.",
        ],
    ),
    "rate limits": (
        "Security",
        ["rate-limiting", "redis"],
        [
            "Rate limits protect the login form far better than a CAPTCHA ever did for us.",
            "Five attempts per address in fifteen minutes stops guessing and barely touches real users.",
            "The limiter keeps its counts in Redis, so every worker sees the same quota.",
            "A limited client gets a 429 with Retry-After, so well-behaved clients back off on their own.",
            "When Redis is down the login limit fails closed; the search limit fails open.",
        ],
    ),
    "trusted proxies": (
        "Security",
        ["security", "kubernetes"],
        [
            "X-Forwarded-For is only believed when the request came from a proxy we trust.",
            "Without a trusted proxy list, every client could claim any address and dodge the rate limit.",
            "The load balancer's address range is in the settings, checked at startup.",
            "A misconfigured CIDR range now fails the system checks instead of trusting nobody in silence.",
            "The client address in the logs is the one the limiter used, so the two always agree.",
        ],
    ),
    "secrets in logs": (
        "Security",
        ["logging", "security"],
        [
            "Authorization headers, cookies and tokens are redacted before a line is written.",
            "Query strings are off by default in the request log, because people put tokens in URLs.",
            "Sentry events are scrubbed the same way as log lines.",
            "A leaked token in a log is a leaked token, whoever reads the log.",
            "We grep the log pipeline for known secret patterns every night.",
        ],
    ),
    "request ids": (
        "Observability",
        ["logging", "sentry"],
        [
            "A support ticket with a request id takes minutes, not hours.",
            "An incoming X-Request-ID is kept only when it looks like an id, so nobody can inject text into our logs.",
            "The id is on the response, on every log line and on every Sentry event of the request.",
            "Background jobs get the id of the request that queued them.",
            "One id across services turned a three-team investigation into a single search.",
        ],
    ),
    "Prometheus histograms": (
        "Observability",
        ["prometheus", "grafana", "latency"],
        [
            "Histograms let us compute any percentile across all pods after the fact.",
            "A bounded label set keeps Prometheus healthy; raw paths as labels do not.",
            "The route template is the label, not the URL, so a million posts are one time series.",
            "Bucket boundaries follow the latency objectives, so the alert reads straight off one bucket.",
            "We alert on the error budget burn rate, not on a single slow minute.",
        ],
    ),
    "Sentry breadcrumbs": (
        "Observability",
        ["sentry", "incidents"],
        [
            "Every Sentry event carries the request id and the route, so it links to the log line.",
            "Probes and metrics scrapes are never traced; they would drown the real traffic.",
            "An N+1 pattern becomes a warning issue once, not once per request.",
            "Breadcrumbs show the queries before the error, which is usually where the bug is.",
            "We sample traces and keep every error.",
        ],
    ),
    "pytest fixtures": (
        "Testing",
        ["pytest"],
        [
            "A fixture that starts a real server makes the test slower and the result true.",
            "Fixtures scoped to the module share expensive setup without sharing state.",
            "We parametrize over the server models instead of copying a test four times.",
            "pytest-django's database fixture wraps each test in a transaction that rolls back.",
            "The assertion says what went wrong, so the failure needs no debugger.",
        ],
    ),
    "load tests": (
        "Testing",
        ["latency", "gunicorn"],
        [
            "The load test runs beside CPU burners, because production is never idle.",
            "We bound every load test in time, so a hang fails the run instead of blocking it.",
            "Latency under load matters more than latency on an idle laptop.",
            "The load test checks the logs and the metrics too: every request counted once.",
            "A soak test found the slow leak that a five-minute run never would.",
        ],
    ),
    "fault injection": (
        "Testing",
        ["redis", "health-checks", "incidents"],
        [
            "We stop Redis with SIGSTOP in a test and watch the limiter fail open within its timeout.",
            "Killing the database mid-request must give a clean error, never a hung worker.",
            "Every fault test restores the service, even when the assertion fails.",
            "A fault that was never rehearsed is a fault that will surprise us at night.",
            "Health probes turned red within a second of the fault and green again after it.",
        ],
    ),
}

TAGS = sorted({tag for _, tags, _ in TOPICS.values() for tag in tags})

TITLE_PATTERNS = [
    "What we learned about {t}",
    "A practical guide to {t}",
    "{T} in five minutes",
    "Debugging {t} in production",
    "{T}: a checklist",
    "The hidden cost of {t}",
    "Notes from an incident: {t}",
    "Getting {t} right in Django",
    "{T}, one year later",
    "Our rules for {t}",
    "{T} without the folklore",
    "Five mistakes with {t}",
    "Questions to ask about {t}",
    "{T} at scale",
    "Rethinking {t}",
]


def body(rng: random.Random, topic: str) -> str:
    """Three or four paragraphs about ``topic``, in its category's voice."""
    category, _, sentences = TOPICS[topic]
    pool = rng.sample(sentences, len(sentences)) + rng.sample(
        CATEGORY_SENTENCES[category], len(CATEGORY_SENTENCES[category])
    )
    paragraphs = rng.randint(3, 4)
    per = len(pool) // paragraphs
    return "\n\n".join(" ".join(pool[i * per : (i + 1) * per]) for i in range(paragraphs))


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
        by_name = {c.name: c for c in categories}
        tag_by_name = {t.name: t for t in tags}
        # Every (topic, title) pair once before any repeats: 360 distinct titles.
        pairs = [(topic, pattern) for topic in TOPICS for pattern in TITLE_PATTERNS]
        rng.shuffle(pairs)
        topic_of: list[str] = []
        for i in range(count):
            topic, pattern = pairs[(start + i) % len(pairs)]
            topic_of.append(topic)
            # "select_related" stays as written (it is a name), others start upper case.
            upper = topic if "_" in topic else topic[0].upper() + topic[1:]
            title = pattern.format(t=topic, T=upper)
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
                    content=body(rng, topic),
                    status=status,
                    author=rng.choice(authors),
                    category=by_name[TOPICS[topic][0]],
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
            Through(post_id=p.pk, tag_id=tag_by_name[name].pk)
            for p, topic in zip(posts, topic_of, strict=True)
            for name in TOPICS[topic][1]
        ]
        Through.objects.bulk_create(links, batch_size=1000)
        return len(posts)
