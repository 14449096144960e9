"""Django REST framework serializers with nested relations: the usual N+1 in an API.

Lines the tests expect as call sites carry a ``# site:<name>`` marker.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tests.testapp.models import Author, Book


class AuthorSerializer(serializers.ModelSerializer[Author]):
    class Meta:
        model = Author
        fields = ["id", "name"]


class BookSerializer(serializers.ModelSerializer[Book]):
    author = AuthorSerializer()
    tag_names = serializers.SerializerMethodField()

    class Meta:
        model = Book
        fields = ["id", "title", "author", "tag_names"]

    def get_tag_names(self, book: Book) -> list[str]:
        return [tag.name for tag in book.tags.all()]  # site:drf_method


class BookList(APIView):
    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def get(self, request: Request) -> Response:
        books = Book.objects.order_by("id")
        return Response(BookSerializer(books, many=True).data)  # site:drf_view
