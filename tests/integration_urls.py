"""A host's URLconf using the entitlement helpers: plain Django, DRF and django-ninja views."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.template import engines
from django.urls import include, path
from ninja import NinjaAPI
from rest_framework.response import Response
from rest_framework.views import APIView

from fiko_billing.access import subscription_required
from fiko_billing.contrib.drf import HasActivePlan
from fiko_billing.contrib.ninja import ActivePlan, use_error_envelope
from fiko_billing.metering import consumes_tokens


@subscription_required
def report(request):
    return JsonResponse({"plan": request.billing_entitlement.plan.name})


@consumes_tokens(10)
def summary(request):
    return JsonResponse({"done": True})


# Built per request: the tests switch context processors on with override_settings.
PAGE = (
    "{% if billing.active %}{{ billing.plan.name }} ({{ billing.status }}) until "
    "{{ billing.current_period_end|date:'Y-m-d' }}{% else %}no plan{% endif %}, "
    "{{ billing.token_balance }} tokens"
)


def billing_page(request):
    return HttpResponse(engines["django"].from_string(PAGE).render({}, request))


def plain_page(request):
    return HttpResponse(engines["django"].from_string("nothing about billing").render({}, request))


class DrfReport(APIView):
    permission_classes = [HasActivePlan]

    def get(self, request):
        return Response({"plan": request.billing_entitlement.plan.name})


class DrfProReport(DrfReport):
    permission_classes = [HasActivePlan.for_plans("Pro")]


ninja_api = NinjaAPI(urls_namespace="tests-ninja")
use_error_envelope(ninja_api)
plain_ninja_api = NinjaAPI(urls_namespace="tests-ninja-plain")


@ninja_api.get("/report", auth=ActivePlan())
def ninja_report(request):
    return {"subscriber": request.auth.pk}


@ninja_api.get("/pro", auth=ActivePlan(plans=["Pro"]))
def ninja_pro(request):
    return {"subscriber": request.auth.pk}


@plain_ninja_api.get("/report", auth=ActivePlan())
def ninja_plain_report(request):
    return {"subscriber": request.auth.pk}


urlpatterns = [
    path("report/", report),
    path("summary/", summary),
    path("page/", billing_page),
    path("plain/", plain_page),
    path("drf/report/", DrfReport.as_view()),
    path("drf/pro/", DrfProReport.as_view()),
    path("ninja/", ninja_api.urls),
    path("ninja-plain/", plain_ninja_api.urls),
    path("billing/", include("fiko_billing.urls")),
]
