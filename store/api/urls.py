"""LangGraph's store paths (served at the root and under ``/api/v1``)."""

from __future__ import annotations

from django.urls import path

from store.api import views

urlpatterns = [
    path("store/items", views.StoreItemsApi.as_view(), name="store-items"),
    path("store/items/search", views.StoreItemSearchApi.as_view(), name="store-items-search"),
    path("store/namespaces", views.StoreNamespaceListApi.as_view(), name="store-namespaces"),
]
