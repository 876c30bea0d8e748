from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from orgs.access import AccountApi

from . import selectors, services


class MeOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField()
    name = serializers.CharField()
    mfa_enabled = serializers.SerializerMethodField()
    date_joined = serializers.DateTimeField()

    def get_mfa_enabled(self, user) -> bool:
        return selectors.user_has_mfa(user=user)


class MeApi(AccountApi):
    """The signed-in user's profile. One URL, so reading and updating share a view."""

    @extend_schema(responses=MeOutputSerializer, summary="The signed-in user")
    def get(self, request: Request) -> Response:
        return Response(MeOutputSerializer(request.user).data)

    class MeUpdateInputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=150, allow_blank=True)

    @extend_schema(
        request=MeUpdateInputSerializer, responses=MeOutputSerializer, summary="Update profile"
    )
    def patch(self, request: Request) -> Response:
        serializer = self.MeUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = services.user_update(
            user=request.user, actor=request.user, name=serializer.validated_data["name"]
        )
        return Response(MeOutputSerializer(user).data)
