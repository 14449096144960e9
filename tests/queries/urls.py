from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("count/", views.sync_count),
    path("acount/<int:tag>/", views.async_count),
    path("sleep-query/", views.sleep_query),
    path("n1/fk/", views.fk_loop),
    path("n1/m2m/", views.m2m_loop),
    path("n1/count/", views.reverse_count_loop),
    path("n1/deferred/", views.deferred_loop),
    path("n1/prefetch_filter/", views.prefetch_filter_loop),
    path("n1/get/", views.same_get),
    path("quiet/select_related/", views.fk_select_related),
    path("quiet/prefetch_related/", views.m2m_prefetch_related),
    path("quiet/single/", views.single_lazy_load),
    path("quiet/three/", views.three_item_loop),
    path("quiet/unused_select_related/", views.unused_select_related),
    path("quiet/keyset/", views.keyset_pagination),
    path("slow/fbv/", views.slow_fbv),
    path("slow/afbv/", views.slow_async_fbv),
    path("slow/lenient/", views.lenient_fbv),
    path("slow/default/", views.default_threshold_fbv),
    path("slow/failing/", views.slow_failing_fbv),
    path("slow/plain/", views.plain_view),
    path("slow/mixin/", views.SlowMixinView.as_view()),
    path("slow/amixin/", views.SlowAsyncMixinView.as_view()),
    path("slow/decorated/", views.SlowDecoratedView.as_view()),
]
