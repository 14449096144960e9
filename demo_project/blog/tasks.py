"""The blog's background work: a notification when a post is published, old drafts cleaned."""

from __future__ import annotations

import logging
from datetime import timedelta

from demo.celery import app
from django.core.mail import send_mail
from django.utils import timezone

from .models import Post

logger = logging.getLogger("blog.tasks")


@app.task(name="blog.notify_published", autoretry_for=(OSError,), max_retries=3)
def notify_published(post_id: int) -> int:
    """Mail the author that the post is live (the console backend in the demo)."""
    post = Post.objects.select_related("author").filter(pk=post_id).first()
    if post is None or not post.author.email:
        return 0
    logger.info("notifying %s about post %s", post.author.username, post.pk)
    return send_mail(
        subject=f"Published: {post.title}",
        message=f"Your post is live at {post.get_absolute_url()}",
        from_email=None,
        recipient_list=[post.author.email],
    )


@app.task(name="blog.cleanup_old_drafts")
def cleanup_old_drafts(days: int = 90) -> int:
    """Delete drafts untouched for ``days`` days (periodic, from celery beat)."""
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = Post.objects.filter(status=Post.Status.DRAFT, updated_at__lt=cutoff).delete()
    return deleted
