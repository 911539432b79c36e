from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from demo import developer, views

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="demo/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.billing_page, name="home"),
    path("demo/use-tokens/", views.use_tokens, name="use-tokens"),
    path("demo/switch-user/", views.switch_user, name="switch-user"),
    path("demo/developer/", developer.state, name="developer-state"),
    path("demo/developer/clock/", developer.advance_clock, name="developer-clock"),
    path("demo/developer/reset/", developer.reset, name="developer-reset"),
    # The demo's pages sit beside fiko-billing's API, on paths the API leaves free.
    path("billing/", views.billing_page, name="billing"),
    path("billing/success/", views.checkout_success, name="checkout-success"),
    # fiko-billing's JSON API and Stripe webhook: /billing/plans/, /billing/account/, ...
    path("billing/", include("fiko_billing.urls")),
]
