# The subscriber model is swappable (FIKO_BILLING_SUBSCRIBER_MODEL), like
# AUTH_USER_MODEL: keep subscriber_model_label() in every reference to it.

import django.db.models.deletion
import django.db.models.functions.text
import django.utils.timezone
import model_utils.fields
from django.db import migrations, models

import fiko_billing.models.catalogue
import fiko_billing.models.deletion
import fiko_billing.models.fields
from fiko_billing.conf import subscriber_model_label


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(subscriber_model_label()),
    ]

    operations = [
        migrations.CreateModel(
            name="Charge",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "stripe_charge_id",
                    models.CharField(
                        help_text="Refunds and disputes name the charge; this row leads to its PaymentIntent.",
                        max_length=255,
                        unique=True,
                        verbose_name="Stripe charge id",
                    ),
                ),
                (
                    "stripe_payment_intent_id",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        max_length=255,
                        null=True,
                        verbose_name="Stripe PaymentIntent id",
                    ),
                ),
                (
                    "amount",
                    models.BigIntegerField(
                        default=0, help_text="In the currency's minor unit.", verbose_name="amount"
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                ("status", models.CharField(max_length=20, verbose_name="status")),
                ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "charge",
                "verbose_name_plural": "charges",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="InvoicePayment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "stripe_id",
                    models.CharField(
                        help_text="The InvoicePayment object (inpay_...) that invoice_payment.paid named.",
                        max_length=255,
                        unique=True,
                        verbose_name="Stripe invoice payment id",
                    ),
                ),
                (
                    "stripe_invoice_id",
                    models.CharField(
                        db_index=True,
                        help_text="The invoice this payment paid (part of).",
                        max_length=255,
                        verbose_name="Stripe invoice id",
                    ),
                ),
                (
                    "stripe_payment_intent_id",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        max_length=255,
                        null=True,
                        verbose_name="Stripe PaymentIntent id",
                    ),
                ),
                (
                    "amount_paid",
                    models.BigIntegerField(
                        default=0,
                        help_text="In the currency's minor unit.",
                        verbose_name="amount paid",
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                ("status", models.CharField(max_length=20, verbose_name="status")),
                ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
            ],
            options={
                "verbose_name": "invoice payment",
                "verbose_name_plural": "invoice payments",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="RejectedEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "body_sha256",
                    models.CharField(
                        help_text="Unique: a repeated delivery of the same body is counted, not stored again.",
                        max_length=64,
                        unique=True,
                        verbose_name="SHA-256 of the body",
                    ),
                ),
                (
                    "reason",
                    models.CharField(
                        help_text="A stable code saying why it was rejected.",
                        max_length=32,
                        verbose_name="reason",
                    ),
                ),
                (
                    "message",
                    models.CharField(
                        help_text="What is wrong with the body, in words.",
                        max_length=500,
                        verbose_name="message",
                    ),
                ),
                (
                    "stripe_event_id",
                    models.CharField(
                        blank=True,
                        help_text="As far as it is readable.",
                        max_length=255,
                        verbose_name="Stripe event id",
                    ),
                ),
                ("type", models.CharField(blank=True, max_length=100, verbose_name="type")),
                (
                    "body",
                    models.TextField(
                        help_text="The raw body as text (U+0000 and undecodable bytes escaped).",
                        verbose_name="body",
                    ),
                ),
                (
                    "deliveries",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="How many times Stripe delivered this body.",
                        verbose_name="deliveries",
                    ),
                ),
                (
                    "received_at",
                    models.DateTimeField(auto_now_add=True, verbose_name="first received"),
                ),
                (
                    "last_received_at",
                    models.DateTimeField(auto_now=True, verbose_name="last received"),
                ),
            ],
            options={
                "verbose_name": "rejected webhook delivery",
                "verbose_name_plural": "rejected webhook deliveries",
                "ordering": ("-last_received_at", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="Customer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "stripe_customer_id",
                    models.CharField(
                        blank=True,
                        help_text="Cleared when the customer is deleted in Stripe; the next checkout creates a new one.",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe customer id",
                    ),
                ),
                (
                    "livemode",
                    models.BooleanField(
                        default=False,
                        help_text="Whether the customer exists in Stripe's live mode (not test mode).",
                        verbose_name="live mode",
                    ),
                ),
                (
                    "deleted_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When Stripe reported the customer deleted.",
                        null=True,
                        verbose_name="deleted in Stripe at",
                    ),
                ),
                (
                    "creation_attempted_at",
                    models.DateTimeField(
                        blank=True,
                        editable=False,
                        help_text="Start of a creation whose outcome Stripe never told us (a timeout or a 5xx); the next attempt first looks for the customer it may have created.",
                        null=True,
                        verbose_name="Stripe customer creation attempted at",
                    ),
                ),
                (
                    "subscriber",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="billing_customer",
                        to=subscriber_model_label(),
                        verbose_name="subscriber",
                    ),
                ),
            ],
            options={
                "verbose_name": "billing customer",
                "verbose_name_plural": "billing customers",
            },
        ),
        migrations.CreateModel(
            name="Payment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("subscription", "Subscription (first payment)"),
                            ("renewal", "Subscription renewal"),
                            ("plan_change", "Plan change"),
                            ("token_package", "Token package"),
                        ],
                        max_length=20,
                        verbose_name="kind",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("requires_action", "Requires action"),
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("expired", "Expired"),
                            ("refunded", "Refunded"),
                            ("partially_refunded", "Partially refunded"),
                            ("disputed", "Disputed"),
                            ("dispute_lost", "Dispute lost"),
                        ],
                        default="pending",
                        max_length=20,
                        verbose_name="status",
                    ),
                ),
                (
                    "quantity",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="Packages bought in this payment.",
                        verbose_name="quantity",
                    ),
                ),
                (
                    "amount",
                    models.PositiveBigIntegerField(
                        help_text="What was charged, in the currency's minor unit.",
                        verbose_name="amount",
                    ),
                ),
                (
                    "amount_discount",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="Taken off by coupons and promotion codes, in minor units.",
                        verbose_name="discount",
                    ),
                ),
                (
                    "amount_refunded",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="Refunded so far, in minor units.",
                        verbose_name="amount refunded",
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                (
                    "tokens",
                    models.PositiveBigIntegerField(
                        default=0, help_text="Tokens this payment grants.", verbose_name="tokens"
                    ),
                ),
                (
                    "stripe_checkout_session_id",
                    models.CharField(
                        blank=True,
                        help_text="The Checkout Session that started this payment.",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe Checkout Session id",
                    ),
                ),
                (
                    "stripe_payment_intent_id",
                    models.CharField(
                        blank=True,
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe PaymentIntent id",
                    ),
                ),
                (
                    "stripe_invoice_id",
                    models.CharField(
                        blank=True,
                        help_text="The invoice of a subscription payment.",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe invoice id",
                    ),
                ),
                (
                    "stripe_charge_id",
                    models.CharField(
                        blank=True,
                        help_text="Refunds and disputes are matched to the payment by it.",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe charge id",
                    ),
                ),
                (
                    "hosted_invoice_url",
                    models.URLField(
                        blank=True,
                        help_text="Stripe's page of the invoice, for the customer.",
                        max_length=2000,
                        verbose_name="invoice page",
                    ),
                ),
                (
                    "failure_message",
                    models.TextField(
                        blank=True,
                        help_text="Why the payment failed, as Stripe tells the customer.",
                        verbose_name="failure message",
                    ),
                ),
                (
                    "fulfilled_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When its tokens or subscription were granted; set once.",
                        null=True,
                        verbose_name="fulfilled at",
                    ),
                ),
                (
                    "livemode",
                    models.BooleanField(
                        default=False,
                        help_text="Whether the payment was made in live mode.",
                        verbose_name="live mode",
                    ),
                ),
                (
                    "stripe_subscription_id",
                    models.CharField(
                        blank=True,
                        db_index=True,
                        help_text="The subscription of the invoice this payment pays.",
                        max_length=255,
                        null=True,
                        verbose_name="Stripe subscription id",
                    ),
                ),
                (
                    "period_start",
                    models.DateTimeField(
                        blank=True,
                        help_text="The billing period it pays for.",
                        null=True,
                        verbose_name="period start",
                    ),
                ),
                (
                    "period_end",
                    models.DateTimeField(
                        blank=True,
                        help_text="The end of that billing period.",
                        null=True,
                        verbose_name="period end",
                    ),
                ),
                (
                    "credited_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the tokens this payment buys were credited (or found to be none); its refunds and disputes wait for this.",
                        null=True,
                        verbose_name="tokens credited at",
                    ),
                ),
                (
                    "subscriber",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="billing_payments",
                        to=subscriber_model_label(),
                        verbose_name="subscriber",
                    ),
                ),
            ],
            options={
                "verbose_name": "payment",
                "verbose_name_plural": "payments",
                "ordering": ("-created", "-pk"),
            },
            bases=(fiko_billing.models.catalogue.SoldProduct, models.Model),
        ),
        migrations.CreateModel(
            name="Dispute",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "stripe_dispute_id",
                    models.CharField(
                        help_text="One row per Stripe dispute (chargeback).",
                        max_length=255,
                        unique=True,
                        verbose_name="Stripe dispute id",
                    ),
                ),
                (
                    "stripe_charge_id",
                    models.CharField(
                        blank=True,
                        help_text="The charge the customer's bank disputes.",
                        max_length=255,
                        verbose_name="Stripe charge id",
                    ),
                ),
                (
                    "amount",
                    models.PositiveBigIntegerField(
                        help_text="Disputed, in the currency's minor unit.", verbose_name="amount"
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                ("status", models.CharField(max_length=30, verbose_name="status")),
                (
                    "reason",
                    models.CharField(
                        blank=True,
                        help_text="The bank's reason code as Stripe gives it (fraudulent, duplicate, ...).",
                        max_length=40,
                        verbose_name="reason",
                    ),
                ),
                (
                    "funds_withdrawn",
                    models.BooleanField(
                        default=False,
                        help_text="Stripe took the disputed amount from the balance.",
                        verbose_name="funds withdrawn",
                    ),
                ),
                (
                    "funds_reinstated",
                    models.BooleanField(
                        default=False,
                        help_text="The dispute was won and the amount returned to the balance.",
                        verbose_name="funds reinstated",
                    ),
                ),
                (
                    "status_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Stripe time of the status shown.",
                        null=True,
                        verbose_name="status as of",
                    ),
                ),
                (
                    "tokens",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="The share of the payment's tokens it holds.",
                        verbose_name="tokens",
                    ),
                ),
                (
                    "payment",
                    models.ForeignKey(
                        help_text="The payment disputed.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disputes",
                        to="fiko_billing.payment",
                        verbose_name="payment",
                    ),
                ),
            ],
            options={
                "verbose_name": "dispute",
                "verbose_name_plural": "disputes",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="Product",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("full", "Subscription plan"), ("token", "Token package")],
                        max_length=10,
                        verbose_name="kind",
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "description",
                    models.TextField(
                        blank=True,
                        help_text="Shown to customers in the catalogue and pushed to the Stripe product.",
                        verbose_name="description",
                    ),
                ),
                (
                    "interval",
                    models.CharField(
                        blank=True,
                        choices=[("month", "Monthly"), ("year", "Yearly")],
                        default="",
                        help_text="How often a subscription to it is billed; a plan needs one, a token package without one is bought once.",
                        max_length=5,
                        verbose_name="billing interval",
                    ),
                ),
                (
                    "tokens",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Tokens granted per unit: a plan's allowance for each paid period (it expires at the period's end), or the tokens of each package bought (they never expire).",
                        verbose_name="tokens",
                    ),
                ),
                (
                    "active",
                    models.BooleanField(
                        default=True,
                        help_text="Inactive items cannot be bought.",
                        verbose_name="active",
                    ),
                ),
                (
                    "sort_order",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Lower numbers are listed first.",
                        verbose_name="sort order",
                    ),
                ),
                (
                    "stripe_product_id",
                    models.CharField(
                        blank=True,
                        editable=False,
                        help_text="Set by sync_stripe_products; empty until the item is pushed to Stripe.",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe product id",
                    ),
                ),
            ],
            options={
                "verbose_name": "product",
                "verbose_name_plural": "products",
                "ordering": ("sort_order", "pk"),
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("kind__in", ["full", "token"])),
                        name="fiko_product_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("interval__in", ["month", "year"]),
                            models.Q(
                                ("interval", ""), models.Q(("kind__in", ["full"]), _negated=True)
                            ),
                            _connector="OR",
                        ),
                        name="fiko_product_interval_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "token"), _negated=True),
                            ("tokens__gte", 1),
                            _connector="OR",
                        ),
                        name="fiko_product_token_tokens_minimum",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="Price",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "currency",
                    fiko_billing.models.fields.CurrencyField(
                        help_text="An ISO 4217 code that Stripe supports, stored in lower case, such as 'usd'.",
                        max_length=3,
                        verbose_name="currency",
                    ),
                ),
                (
                    "unit_amount",
                    models.PositiveIntegerField(
                        help_text="In the currency's minor unit: cents for USD, yen for JPY. At least Stripe's minimum charge for the currency (0.50 USD, 50 JPY, …); a plan may also be free (0).",
                        verbose_name="amount",
                    ),
                ),
                (
                    "active",
                    models.BooleanField(
                        default=True,
                        help_text="Inactive prices are not offered; subscriptions already on them go on.",
                        verbose_name="active",
                    ),
                ),
                (
                    "stripe_price_id",
                    models.CharField(
                        blank=True,
                        editable=False,
                        help_text="Set by sync_stripe_products, which creates a new Stripe price when the amount changes (Stripe prices cannot change).",
                        max_length=255,
                        null=True,
                        unique=True,
                        verbose_name="Stripe price id",
                    ),
                ),
                (
                    "product",
                    models.ForeignKey(
                        help_text="The plan or token package sold at this price.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="prices",
                        to="fiko_billing.product",
                        verbose_name="product",
                    ),
                ),
            ],
            options={
                "verbose_name": "price",
                "verbose_name_plural": "prices",
                "ordering": ("currency", "pk"),
            },
            bases=(fiko_billing.models.catalogue.SoldProduct, models.Model),
        ),
        migrations.AddField(
            model_name="payment",
            name="product",
            field=models.ForeignKey(
                blank=True,
                help_text="The plan or token package paid for, if known.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payments",
                to="fiko_billing.product",
                verbose_name="product",
            ),
        ),
        migrations.CreateModel(
            name="Plan",
            fields=[],
            options={
                "verbose_name": "subscription plan",
                "verbose_name_plural": "subscription plans",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("fiko_billing.product",),
        ),
        migrations.CreateModel(
            name="TokenPackage",
            fields=[],
            options={
                "verbose_name": "token package",
                "verbose_name_plural": "token packages",
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("fiko_billing.product",),
        ),
        migrations.CreateModel(
            name="Refund",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "stripe_refund_id",
                    models.CharField(
                        help_text="One row per Stripe refund object; its tokens are taken back once.",
                        max_length=255,
                        unique=True,
                        verbose_name="Stripe refund id",
                    ),
                ),
                (
                    "stripe_charge_id",
                    models.CharField(
                        blank=True,
                        help_text="The charge the refund returns money from.",
                        max_length=255,
                        verbose_name="Stripe charge id",
                    ),
                ),
                (
                    "amount",
                    models.PositiveBigIntegerField(
                        help_text="Refunded, in the currency's minor unit.", verbose_name="amount"
                    ),
                ),
                ("currency", models.CharField(max_length=3, verbose_name="currency")),
                ("status", models.CharField(max_length=20, verbose_name="status")),
                (
                    "reason",
                    models.CharField(
                        blank=True,
                        help_text="Stripe's reason code (duplicate, fraudulent, requested_by_customer).",
                        max_length=40,
                        verbose_name="reason",
                    ),
                ),
                (
                    "tokens",
                    models.PositiveBigIntegerField(
                        default=0,
                        help_text="The share of the payment's tokens it takes back.",
                        verbose_name="tokens",
                    ),
                ),
                (
                    "payment",
                    models.ForeignKey(
                        help_text="The payment refunded.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="refunds",
                        to="fiko_billing.payment",
                        verbose_name="payment",
                    ),
                ),
            ],
            options={
                "verbose_name": "refund",
                "verbose_name_plural": "refunds",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="Subscription",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created",
                    model_utils.fields.AutoCreatedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="created"
                    ),
                ),
                (
                    "modified",
                    model_utils.fields.AutoLastModifiedField(
                        default=django.utils.timezone.now, editable=False, verbose_name="modified"
                    ),
                ),
                (
                    "stripe_subscription_id",
                    models.CharField(
                        max_length=255, unique=True, verbose_name="Stripe subscription id"
                    ),
                ),
                (
                    "quantity",
                    models.PositiveIntegerField(
                        default=1, help_text="Units billed each period.", verbose_name="quantity"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("incomplete", "Incomplete"),
                            ("incomplete_expired", "Incomplete, expired"),
                            ("trialing", "Trialing"),
                            ("active", "Active"),
                            ("past_due", "Past due"),
                            ("canceled", "Canceled"),
                            ("unpaid", "Unpaid"),
                            ("paused", "Paused"),
                        ],
                        default="incomplete",
                        help_text="Stripe's status; active, trialing and past_due give the plan's benefits.",
                        max_length=20,
                        verbose_name="status",
                    ),
                ),
                (
                    "status_changed",
                    model_utils.fields.MonitorField(
                        default=django.utils.timezone.now,
                        help_text="When this row's status last changed (or the row was created).",
                        monitor="status",
                        verbose_name="status changed",
                    ),
                ),
                (
                    "current_period_start",
                    models.DateTimeField(
                        blank=True, null=True, verbose_name="current period start"
                    ),
                ),
                (
                    "current_period_end",
                    models.DateTimeField(
                        blank=True,
                        help_text="The paid period ends (and renews) then; its granted tokens expire then.",
                        null=True,
                        verbose_name="current period end",
                    ),
                ),
                (
                    "cancel_at_period_end",
                    models.BooleanField(
                        default=False,
                        help_text="Cancellation requested: it stays active until the period ends.",
                        verbose_name="cancel at period end",
                    ),
                ),
                (
                    "cancel_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="A cancellation set for this moment (in the Customer Portal or Stripe).",
                        null=True,
                        verbose_name="cancel at",
                    ),
                ),
                (
                    "canceled_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the cancellation was requested.",
                        null=True,
                        verbose_name="canceled at",
                    ),
                ),
                (
                    "ended_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the subscription ended.",
                        null=True,
                        verbose_name="ended at",
                    ),
                ),
                (
                    "trial_end",
                    models.DateTimeField(
                        blank=True,
                        help_text="When the free trial ends.",
                        null=True,
                        verbose_name="trial end",
                    ),
                ),
                (
                    "livemode",
                    models.BooleanField(
                        default=False,
                        help_text="Whether the subscription exists in Stripe's live mode.",
                        verbose_name="live mode",
                    ),
                ),
                (
                    "stripe_state_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Creation time of the newest Stripe event this row reflects; older events are ignored.",
                        null=True,
                        verbose_name="Stripe state as of",
                    ),
                ),
                (
                    "stripe_created",
                    models.DateTimeField(
                        blank=True,
                        help_text="Stripe's ``created``.",
                        null=True,
                        verbose_name="created in Stripe",
                    ),
                ),
                (
                    "ordering_state",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Per group of fields: the Stripe time of the state shown and what was learnt in that second, so events in any order end in Stripe's state.",
                        verbose_name="ordering state",
                    ),
                ),
                (
                    "canceled_as_duplicate_of",
                    models.ForeignKey(
                        blank=True,
                        help_text="Set when a second paid subscription was canceled and refunded at once.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="fiko_billing.subscription",
                        verbose_name="canceled as a duplicate of",
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subscriptions",
                        to="fiko_billing.customer",
                        verbose_name="billing customer",
                    ),
                ),
                (
                    "price",
                    models.ForeignKey(
                        blank=True,
                        help_text="The price billed each period.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subscriptions",
                        to="fiko_billing.price",
                        verbose_name="price",
                    ),
                ),
                (
                    "product",
                    models.ForeignKey(
                        blank=True,
                        help_text="The plan (or recurring token package) subscribed to; empty while it is unknown.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="subscriptions",
                        to="fiko_billing.product",
                        verbose_name="product",
                    ),
                ),
                (
                    "subscriber",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=fiko_billing.models.deletion.keep_unless_live,
                        related_name="billing_subscriptions",
                        to=subscriber_model_label(),
                        verbose_name="subscriber",
                    ),
                ),
            ],
            options={
                "verbose_name": "subscription",
                "verbose_name_plural": "subscriptions",
                "ordering": ("-created", "-pk"),
            },
            bases=(fiko_billing.models.catalogue.SoldProduct, models.Model),
        ),
        migrations.AddField(
            model_name="payment",
            name="subscription",
            field=models.ForeignKey(
                blank=True,
                help_text="The subscription a first payment or renewal belongs to.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="payments",
                to="fiko_billing.subscription",
                verbose_name="subscription",
            ),
        ),
        migrations.CreateModel(
            name="TokenAccount",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "balance",
                    models.BigIntegerField(
                        default=0,
                        help_text="Negative while a refund left a debt.",
                        verbose_name="balance",
                    ),
                ),
                (
                    "holds_expire_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Never later than the earliest expiry of a held reservation: until then no ledger write needs to look for expired holds.",
                        null=True,
                        verbose_name="first hold expires at",
                    ),
                ),
                (
                    "updated",
                    models.DateTimeField(
                        auto_now=True,
                        help_text="When a ledger operation last touched it.",
                        verbose_name="updated",
                    ),
                ),
                (
                    "subscriber",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="token_account",
                        to=subscriber_model_label(),
                        verbose_name="subscriber",
                    ),
                ),
            ],
            options={
                "verbose_name": "token account",
                "verbose_name_plural": "token accounts",
            },
        ),
        migrations.CreateModel(
            name="TokenEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("grant", "Plan allowance"),
                            ("purchase", "Purchase"),
                            ("adjustment", "Adjustment"),
                            ("consume", "Spent"),
                            ("reserve", "Reserved"),
                            ("release", "Released reservation"),
                            ("expiry", "Expired"),
                            ("refund", "Taken back after a refund"),
                            ("dispute", "Held during a dispute"),
                            ("reinstate", "Given back after a dispute was won"),
                        ],
                        max_length=12,
                        verbose_name="kind",
                    ),
                ),
                (
                    "amount",
                    models.BigIntegerField(
                        help_text="Positive adds, negative takes.", verbose_name="amount"
                    ),
                ),
                (
                    "balance_after",
                    models.BigIntegerField(
                        help_text="The account's balance right after this entry.",
                        verbose_name="balance after",
                    ),
                ),
                (
                    "reference",
                    models.CharField(
                        blank=True,
                        help_text="Unique per account: the cause of the operation (an invoice, a checkout session, a refund), so a repeated operation changes nothing.",
                        max_length=255,
                        null=True,
                        verbose_name="reference",
                    ),
                ),
                (
                    "expires_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="For credits: when their unspent part expires; empty for never.",
                        null=True,
                        verbose_name="expires at",
                    ),
                ),
                (
                    "remaining",
                    models.BigIntegerField(
                        default=0,
                        help_text="For credits: the part not yet spent or expired.",
                        verbose_name="remaining",
                    ),
                ),
                (
                    "description",
                    models.CharField(
                        blank=True,
                        help_text="Shown to the customer in the token history.",
                        max_length=255,
                        verbose_name="description",
                    ),
                ),
                ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entries",
                        to="fiko_billing.tokenaccount",
                        verbose_name="token account",
                    ),
                ),
                (
                    "grant",
                    models.ForeignKey(
                        blank=True,
                        help_text="For expiries and refunds: the credit they act on.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fiko_billing.tokenentry",
                        verbose_name="credit",
                    ),
                ),
            ],
            options={
                "verbose_name": "token entry",
                "verbose_name_plural": "token entries",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="TokenAllocation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "amount",
                    models.BigIntegerField(
                        help_text="Tokens the reservation took from that credit.",
                        verbose_name="amount",
                    ),
                ),
                (
                    "debit",
                    models.ForeignKey(
                        help_text="The ledger entry of the reservation.",
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="allocations",
                        to="fiko_billing.tokenentry",
                        verbose_name="reservation entry",
                    ),
                ),
                (
                    "grant",
                    models.ForeignKey(
                        help_text="A credit the reservation took tokens from; a release gives them back.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fiko_billing.tokenentry",
                        verbose_name="credit",
                    ),
                ),
            ],
            options={
                "verbose_name": "token allocation",
                "verbose_name_plural": "token allocations",
            },
        ),
        migrations.CreateModel(
            name="TokenReservation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "amount",
                    models.BigIntegerField(
                        help_text="Tokens taken out of the spendable balance while held.",
                        verbose_name="amount held",
                    ),
                ),
                (
                    "settled_amount",
                    models.BigIntegerField(
                        blank=True,
                        help_text="Tokens finally spent (0 when released); empty while held.",
                        null=True,
                        verbose_name="amount charged",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("held", "Held"),
                            ("settled", "Settled"),
                            ("released", "Released"),
                            ("expired", "Expired"),
                        ],
                        default="held",
                        max_length=8,
                        verbose_name="status",
                    ),
                ),
                (
                    "reference",
                    models.CharField(
                        blank=True,
                        help_text="Unique per account: reserving again with it returns this reservation.",
                        max_length=255,
                        null=True,
                        verbose_name="reference",
                    ),
                ),
                (
                    "description",
                    models.CharField(blank=True, max_length=255, verbose_name="description"),
                ),
                ("created", models.DateTimeField(auto_now_add=True, verbose_name="created")),
                (
                    "expires_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Unless settled or released by then, the hold is given back.",
                        null=True,
                        verbose_name="expires at",
                    ),
                ),
                (
                    "closed_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When it was settled, released or expired.",
                        null=True,
                        verbose_name="closed at",
                    ),
                ),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="reservations",
                        to="fiko_billing.tokenaccount",
                        verbose_name="token account",
                    ),
                ),
                (
                    "entry",
                    models.OneToOneField(
                        help_text="The entry that took the held tokens from the balance.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reservation",
                        to="fiko_billing.tokenentry",
                        verbose_name="ledger entry",
                    ),
                ),
            ],
            options={
                "verbose_name": "token reservation",
                "verbose_name_plural": "token reservations",
                "ordering": ("-created", "-pk"),
            },
        ),
        migrations.CreateModel(
            name="WebhookEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "stripe_event_id",
                    models.CharField(
                        help_text="Unique: a repeated delivery of an event is recognised by it.",
                        max_length=255,
                        unique=True,
                        verbose_name="Stripe event id",
                    ),
                ),
                (
                    "type",
                    models.CharField(
                        help_text="Stripe's event type, such as invoice.paid.",
                        max_length=100,
                        verbose_name="type",
                    ),
                ),
                (
                    "api_version",
                    models.CharField(
                        blank=True,
                        help_text="The Stripe API version the payload is rendered in.",
                        max_length=64,
                        verbose_name="API version",
                    ),
                ),
                (
                    "livemode",
                    models.BooleanField(
                        default=False,
                        help_text="Whether the event comes from live mode.",
                        verbose_name="live mode",
                    ),
                ),
                (
                    "payload",
                    fiko_billing.models.fields.NulSafeJSONField(
                        help_text="The event as Stripe sent it.", verbose_name="payload"
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("processed", "Processed"),
                            ("ignored", "Ignored (type not handled)"),
                            ("failed", "Failed"),
                            ("dead", "Set aside (failed too often, or waited too long)"),
                        ],
                        default="pending",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                (
                    "attempts",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="How many times processing was tried.",
                        verbose_name="attempts",
                    ),
                ),
                (
                    "failures",
                    models.PositiveIntegerField(
                        default=0,
                        help_text="Attempts that failed; waiting is not failing.",
                        verbose_name="failures",
                    ),
                ),
                (
                    "waiting_for",
                    models.CharField(
                        blank=True,
                        help_text="What a pending event waits for (its payment, say); it runs again then.",
                        max_length=255,
                        verbose_name="waiting for",
                    ),
                ),
                (
                    "last_error",
                    models.TextField(
                        blank=True,
                        help_text="The error of the last failed attempt.",
                        verbose_name="last error",
                    ),
                ),
                (
                    "stripe_created",
                    models.DateTimeField(
                        help_text="The event's creation time in Stripe, to the second.",
                        verbose_name="created in Stripe",
                    ),
                ),
                (
                    "received_at",
                    models.DateTimeField(
                        auto_now_add=True,
                        help_text="When the event was stored (delivered, or fetched by sync_stripe_events).",
                        verbose_name="received",
                    ),
                ),
                (
                    "processed_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="When processing succeeded or found the type not handled.",
                        null=True,
                        verbose_name="processed",
                    ),
                ),
            ],
            options={
                "verbose_name": "webhook event",
                "verbose_name_plural": "webhook events",
                "ordering": ("-stripe_created", "-pk"),
                "indexes": [
                    models.Index(
                        fields=["status", "stripe_created"], name="fiko_event_status_created"
                    ),
                    models.Index(fields=["type", "-stripe_created"], name="fiko_event_type"),
                    models.Index(
                        condition=models.Q(("waiting_for", ""), _negated=True),
                        fields=["waiting_for"],
                        name="fiko_event_waiting",
                    ),
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("status__in", ["pending", "processed", "ignored", "failed", "dead"])
                        ),
                        name="fiko_event_status_valid",
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="price",
            constraint=models.CheckConstraint(
                condition=models.Q(("unit_amount__gte", 0)), name="fiko_price_amount_gte_0"
            ),
        ),
        migrations.AddConstraint(
            model_name="price",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("currency", django.db.models.functions.text.Lower("currency"))
                ),
                name="fiko_price_currency_lower_case",
                violation_error_message="The currency is stored in lower case.",
            ),
        ),
        migrations.AddConstraint(
            model_name="price",
            constraint=models.UniqueConstraint(
                fields=("product", "currency"),
                name="fiko_price_unique_product_currency",
                violation_error_message="This product already has a price in that currency.",
            ),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(
                fields=["status", "current_period_end"], name="fiko_sub_status_period"
            ),
        ),
        migrations.AddIndex(
            model_name="subscription",
            index=models.Index(fields=["subscriber", "status"], name="fiko_sub_subscriber_status"),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "incomplete",
                            "incomplete_expired",
                            "trialing",
                            "active",
                            "past_due",
                            "canceled",
                            "unpaid",
                            "paused",
                        ],
                    )
                ),
                name="fiko_subscription_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscription",
            constraint=models.CheckConstraint(
                condition=models.Q(("quantity__gte", 1)),
                name="fiko_subscription_quantity_positive",
            ),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["subscriber", "-created"], name="fiko_payment_subscriber"),
        ),
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(fields=["status", "created"], name="fiko_payment_status"),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("kind__in", ["subscription", "renewal", "plan_change", "token_package"])
                ),
                name="fiko_payment_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "status__in",
                        [
                            "pending",
                            "requires_action",
                            "succeeded",
                            "failed",
                            "expired",
                            "refunded",
                            "partially_refunded",
                            "disputed",
                            "dispute_lost",
                        ],
                    )
                ),
                name="fiko_payment_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount_refunded__lte", models.F("amount"))),
                name="fiko_payment_refund_lte_amount",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("quantity__gte", 1)), name="fiko_payment_quantity_positive"
            ),
        ),
        migrations.AddIndex(
            model_name="tokenentry",
            index=models.Index(
                condition=models.Q(("remaining__gt", 0)),
                fields=["account", "expires_at"],
                name="fiko_entry_live_credits",
            ),
        ),
        migrations.AddIndex(
            model_name="tokenentry",
            index=models.Index(
                condition=models.Q(("expires_at__isnull", False), ("remaining__gt", 0)),
                fields=["expires_at"],
                name="fiko_entry_expiring",
            ),
        ),
        migrations.AddIndex(
            model_name="tokenentry",
            index=models.Index(fields=["account", "-created"], name="fiko_entry_history"),
        ),
        migrations.AddConstraint(
            model_name="tokenentry",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount", 0), _negated=True), name="fiko_entry_amount_nonzero"
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    (
                        "kind__in",
                        [
                            "grant",
                            "purchase",
                            "adjustment",
                            "consume",
                            "reserve",
                            "release",
                            "expiry",
                            "refund",
                            "dispute",
                            "reinstate",
                        ],
                    )
                ),
                name="fiko_entry_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenentry",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("remaining__gte", 0),
                    models.Q(
                        ("remaining", 0),
                        models.Q(("amount__gt", 0), ("remaining__lte", models.F("amount"))),
                        _connector="OR",
                    ),
                ),
                name="fiko_entry_remaining_within_amount",
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenentry",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reference__isnull", False)),
                fields=("account", "reference"),
                name="fiko_entry_unique_reference",
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenallocation",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gt", 0)), name="fiko_allocation_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenallocation",
            constraint=models.UniqueConstraint(
                fields=("debit", "grant"), name="fiko_allocation_unique"
            ),
        ),
        migrations.AddIndex(
            model_name="tokenreservation",
            index=models.Index(fields=["status", "created"], name="fiko_reservation_status"),
        ),
        migrations.AddIndex(
            model_name="tokenreservation",
            index=models.Index(
                condition=models.Q(("status", "held")),
                fields=["expires_at"],
                name="fiko_reservation_expiring",
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenreservation",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gt", 0)), name="fiko_reservation_positive"
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenreservation",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["held", "settled", "released", "expired"])),
                name="fiko_reservation_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="tokenreservation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("reference__isnull", False)),
                fields=("account", "reference"),
                name="fiko_reservation_unique_reference",
            ),
        ),
    ]
