// The Checkout success page: ask until the payment is fulfilled, then show what it bought.
(function () {
  "use strict";

  const Demo = window.Demo;
  const { area, request, showError, formatNumber } = Demo;
  const config = Demo.config();
  const POLL_EVERY_MS = 1000;
  const GIVE_UP_AFTER = 30;
  const FINAL_FAILURES = new Set(["failed", "expired"]);

  function setStatus(state, text) {
    const status = area("success-status");
    status.dataset.state = state;
    status.textContent = text;
  }

  function summary(payment) {
    const quantity = payment.quantity > 1 ? ` (${payment.quantity} packages)` : "";
    if (payment.kind === "token_package") {
      return `You bought ${formatNumber(payment.tokens)} tokens${quantity} for ${payment.display}.`;
    }
    return (
      `Your subscription is active: ${payment.display} paid, ` +
      `${formatNumber(payment.tokens)} tokens for this period.`
    );
  }

  function done(data) {
    area("success-heading").textContent = "Thank you!";
    setStatus("fulfilled", "Payment confirmed.");
    const text = area("success-summary");
    text.textContent = summary(data.payment);
    text.hidden = false;
    area("token-balance").textContent = formatNumber(data.token_balance);
    area("token-balance").dataset.value = String(data.token_balance);
    area("success-balance").hidden = false;
  }

  async function poll(attempt) {
    let data;
    try {
      data = await request("GET", config.urls.checkout_status.replace("<id>", config.session_id));
    } catch (error) {
      if (error.code === "stripe_timeout" && attempt < GIVE_UP_AFTER) {
        // Stripe was slow this time; the next poll may find the answer.
        window.setTimeout(() => poll(attempt + 1), POLL_EVERY_MS);
        return;
      }
      area("success-heading").textContent = "We could not check this payment";
      setStatus("error", "");
      showError(error);
      return;
    }
    if (data.fulfilled) {
      done(data);
      return;
    }
    if (FINAL_FAILURES.has(data.payment.status)) {
      area("success-heading").textContent = "The payment did not go through";
      setStatus(data.payment.status, "Nothing was charged. Go back and try another card.");
      return;
    }
    if (attempt >= GIVE_UP_AFTER) {
      setStatus(
        "timeout",
        "Stripe has not confirmed the payment yet. Reload this page in a moment to check again.",
      );
      return;
    }
    window.setTimeout(() => poll(attempt + 1), POLL_EVERY_MS);
  }

  if (!config.session_id) {
    area("success-heading").textContent = "No checkout to confirm";
    setStatus("error", "");
    showError("This address has no session_id: start a purchase from the billing page.");
  } else {
    poll(1);
  }
})();
