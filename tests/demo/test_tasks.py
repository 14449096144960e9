"""The demo's background tasks: publishing notifies the author, old drafts go."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import pytest
from blog.models import Post
from blog.tasks import cleanup_old_drafts
from django.core import mail
from django.utils import timezone

from .conftest import Blog, login

pytestmark = pytest.mark.django_db


@pytest.mark.django_db(transaction=True)  # on_commit runs in the request, as in autocommit
def test_publishing_runs_the_notification_task_in_the_request_chain(
    blog: Blog, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="opskit.task")
    blog.alice.email = "alice@example.com"
    blog.alice.save()
    rid = uuid.uuid4().hex
    resp = login(blog.alice).post(f"/api/posts/{blog.draft.pk}/publish/", HTTP_X_REQUEST_ID=rid)
    assert resp.status_code == 200
    assert [m.to for m in mail.outbox] == [["alice@example.com"]]
    lines = [r.__dict__ for r in caplog.records if r.name == "opskit.task"]
    assert len(lines) == 1
    assert lines[0]["task.name"] == "blog.notify_published"
    assert lines[0]["task.state"] == "succeeded"
    assert lines[0]["parent_request_id"] == rid


def test_cleanup_deletes_only_old_drafts(blog: Blog) -> None:
    old = timezone.now() - timedelta(days=120)
    Post.objects.filter(pk=blog.draft.pk).update(updated_at=old)
    drafts_before = Post.objects.filter(status=Post.Status.DRAFT).count()
    assert cleanup_old_drafts.apply(args=(90,)).get() == 1
    assert not Post.objects.filter(pk=blog.draft.pk).exists()
    assert Post.objects.filter(status=Post.Status.DRAFT).count() == drafts_before - 1
