from django.contrib import admin
from django.urls import include, path

from demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", views.billing_overview, name="home"),
    path("billing/", views.billing_overview, name="billing"),
    # fiko-billing's JSON API and Stripe webhook: /billing/plans/, /billing/account/, ...
    path("billing/", include("fiko_billing.urls")),
]
