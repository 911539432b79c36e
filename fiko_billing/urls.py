"""The JSON API, the webhook and the default return pages.

Mount with ``path("billing/", include("fiko_billing.urls"))``; URL names live in
the ``fiko_billing`` namespace.
"""

from django.urls import path

from fiko_billing import pages, preview_views, views
from fiko_billing.webhooks.views import stripe_webhook

app_name = "fiko_billing"

urlpatterns = [
    path("plans/", views.plans, name="plans"),
    path("account/", views.account, name="account"),
    path(
        "stripe/checkout-session/",
        views.create_checkout_session,
        name="checkout-session",
    ),
    path(
        "stripe/checkout-session/<str:session_id>/",
        views.checkout_session_status,
        name="checkout-session-status",
    ),
    path("stripe/webhook/", stripe_webhook, name="stripe-webhook"),
    path("stripe/customer-portal/", views.create_portal_session, name="customer-portal"),
    path("subscription/cancel/", views.cancel_subscription, name="subscription-cancel"),
    path("subscription/resume/", views.resume_subscription, name="subscription-resume"),
    path("subscription/change/", views.change_subscription, name="subscription-change"),
    path(
        "subscription/change/preview/",
        preview_views.preview_plan_change_view,
        name="subscription-change-preview",
    ),
    path("tokens/transactions/", views.token_transactions, name="token-transactions"),
    path("payments/", views.payments, name="payments"),
    path("openapi.json", views.openapi, name="openapi"),
    # The default pages of SUCCESS_URL, CANCEL_URL and PORTAL_RETURN_URL.
    path("return/checkout-success/", pages.checkout_success, name="checkout-success-page"),
    path("return/checkout-canceled/", pages.checkout_canceled, name="checkout-canceled-page"),
    path("return/portal/", pages.portal_return, name="portal-return-page"),
]
