"""API tokens (django-rest-knox): the endpoint that issues, lists and revokes them
(`/api/v1/tokens/`); signing in with one is `clinic.api.auth.TokenAuthentication`.

A token is shown once, when issued; the database keeps only its digest (knox's), its
name, when it was issued, used and expires. Its owner lists and revokes their own; a
clinic admin those of the clinic's staff too. Another's token is a 404, as if missing.
"""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, permissions, serializers, viewsets

from clinic.models import ApiToken
from clinic.selectors import api_tokens_manageable
from clinic.services import api_token_create, api_token_revoke
from clinic.two_factor import passed_for

from .base import IdLookupMixin, InputSerializer, Role, TokenCreationThrottle, caller, created


class ApiTokenSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "user", "username", "created", "expiry", "last_used"]
        read_only_fields = fields


class ApiTokenIssuedSerializer(ApiTokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The token itself: shown this once, never stored."
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class ApiTokenCreateSerializer(InputSerializer):
    name = serializers.CharField(
        max_length=100, help_text='What the token is for, e.g. "front desk tablet".'
    )
    username = serializers.CharField(
        required=False, max_length=150, help_text="With `password`; or sign in to the web app."
    )
    password = serializers.CharField(
        required=False, max_length=4096, write_only=True, style={"input_type": "password"}
    )

    def validate(self, attrs):
        given = {f for f in ("username", "password") if f in attrs}
        if len(given) == 1:
            missing = ({"username", "password"} - given).pop()
            raise serializers.ValidationError({missing: ["Send username and password both."]})
        return attrs


class ApiTokenViewSet(
    IdLookupMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your API tokens (a clinic admin: the clinic's staff's too): issue, list, revoke."""

    serializer_class = ApiTokenSerializer
    filterset_fields = ["user"]
    ordering_fields = ["created", "expiry", "name", "id"]
    ordering = ["-created", "-id"]

    def get_throttles(self):
        # Issuing is where a password is guessed: at most RATELIMIT_TOKEN a user or address.
        return [TokenCreationThrottle()] if self.action == "create" else []

    def get_permissions(self):
        if self.action == "create":  # by username and password: nobody is signed in yet
            return [permissions.AllowAny()]
        return super().get_permissions()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return ApiToken.objects.none()
        c = caller(self.request)
        return api_tokens_manageable(
            user=self.request.user, admin_clinic_ids=c.clinic_ids([Role.CLINIC_ADMIN])
        )

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={
            201: ApiTokenIssuedSerializer,
            429: OpenApiResponse(description="Too many failed sign-ins: locked out for a while."),
        },
        description="Issue a token for the signed-in user (web session), or for the user "
        "whose `username` and `password` are sent. The token is in the answer this once. "
        "A token cannot issue another: its expiry would mean nothing.",
    )
    def create(self, request, *args, **kwargs):
        body = ApiTokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = self._issuer(request, body.validated_data)
        if not passed_for(request._request, user):
            raise exceptions.PermissionDenied(
                "Pass the second factor first: sign in to the web app with it, then issue "
                "the token from there.",
                code="second_factor_required",
            )
        token, key = api_token_create(user=user, name=body.validated_data["name"])
        return created({**ApiTokenIssuedSerializer(token).data, "token": key})

    def _issuer(self, request, data):
        if "username" in data:
            # Through Django's authenticate, so django-axes counts failures and locks out.
            user = authenticate(
                request._request, username=data["username"], password=data["password"]
            )
            if user is None:
                raise serializers.ValidationError({"password": ["Wrong username or password."]})
            return user
        if request.user.is_authenticated and request.auth is None:  # a web session
            return request.user
        needed = ["Send username and password, or sign in to the web app first."]
        raise serializers.ValidationError({"username": needed, "password": needed})

    def perform_destroy(self, instance):
        api_token_revoke(token=instance)
