// Calls to fiko-billing's JSON API, and its error codes in words a customer understands.
(function () {
  "use strict";

  // One entry per error code of the API (docs/http_api.md) and of the demo's
  // own view; a function receives the server's message, which names the field.
  const MESSAGES = {
    invalid_json: "The browser sent a request the server could not read. Reload the page.",
    missing_field: (message) => `Something is missing: ${message}`,
    invalid_input: (message) => `Please check what you entered: ${message}`,
    body_too_large: "The request was too large.",
    unsupported_currency: (message) =>
      `That is not sold in this currency. ${message} Pick another currency above.`,
    return_url_not_allowed: "The billing portal cannot send you back to that address.",
    not_authenticated: "Please log in first (demo / demo or alice / alice).",
    csrf_failed: "Your session has changed since this page loaded. Reload the page and try again.",
    no_billing_account: "Your account has no billing account yet.",
    unsupported_media_type: "The page sent a request the server does not accept. Reload the page and try again.",
    plan_not_found: "That plan or package is no longer for sale. Reload the page.",
    checkout_session_not_found:
      "This checkout is unknown, or it was started by another account.",
    no_customer: "You have no billing account yet: subscribe or buy tokens first.",
    no_subscription: "You have no active subscription.",
    method_not_allowed: "The page used a method the server does not accept here.",
    already_subscribed: (message) =>
      message || "You already have a plan: switch to another plan or cancel it instead.",
    not_canceling: "Your subscription is not set to end, so there is nothing to resume.",
    same_plan: "You are already on that plan.",
    stripe_error: (message) =>
      message || "The payment provider could not process the request. Please try again.",
    stripe_timeout: "The payment provider is slow to answer right now. Please try again in a moment.",
    billing_disabled: "Billing is switched off on this site.",
    catalogue_not_synced:
      "This item has not been pushed to Stripe yet: run `manage.py sync_stripe_products`.",
    insufficient_tokens: "Not enough tokens left: buy a package or subscribe to a plan.",
    network_error: "The server cannot be reached. Is the demo still running?",
    emulator_unavailable: (message) => message || "The Stripe emulator did not answer.",
  };

  class ApiError extends Error {
    constructor(code, message, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  function config() {
    return JSON.parse(document.getElementById("demo-config").textContent);
  }

  function cookie(name) {
    for (const part of document.cookie.split(";")) {
      const [key, ...rest] = part.trim().split("=");
      if (key === name) return decodeURIComponent(rest.join("="));
    }
    return "";
  }

  async function request(method, url, body) {
    const headers = { Accept: "application/json" };
    const options = { method, headers, credentials: "same-origin" };
    if (method !== "GET") {
      // Session-authenticated POSTs carry Django's CSRF token in this header.
      headers["X-CSRFToken"] = cookie("csrftoken");
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body || {});
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (problem) {
      throw new ApiError("network_error", String(problem), 0);
    }
    let data = null;
    try {
      data = await response.json();
    } catch (problem) {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(error.code || `http_${response.status}`, error.message || "", response.status);
    }
    return data;
  }

  function errorText(error) {
    const known = MESSAGES[error.code];
    if (typeof known === "function") return known(error.message || "");
    if (known) return known;
    if (error.message) return error.message;
    return `The server answered with an error (HTTP ${error.status}). Please try again.`;
  }

  function area(name) {
    return document.querySelector(`[data-testid="${name}"]`);
  }

  function showError(error) {
    const box = area("error");
    box.textContent = typeof error === "string" ? error : errorText(error);
    box.dataset.code = (error && error.code) || "";
    box.hidden = false;
    area("notice").hidden = true;
  }

  function showNotice(text) {
    const box = area("notice");
    box.textContent = text;
    box.hidden = false;
    area("error").hidden = true;
  }

  function clearMessages() {
    area("error").hidden = true;
    area("notice").hidden = true;
  }

  function formatNumber(value) {
    return Number(value).toLocaleString("en-US");
  }

  // Minor units as the currency writes them: 500 "usd" is $5.00, 500 "jpy" is ¥500.
  function formatMoney(minor, currency) {
    const format = new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() });
    const digits = format.resolvedOptions().maximumFractionDigits;
    return format.format(minor / 10 ** digits);
  }

  function formatDate(iso) {
    if (!iso) return "";
    return new Date(iso).toLocaleDateString("en-GB", {
      day: "numeric",
      month: "long",
      year: "numeric",
    });
  }

  window.Demo = {
    ApiError,
    MESSAGES,
    area,
    clearMessages,
    config,
    errorText,
    formatDate,
    formatMoney,
    formatNumber,
    request,
    showError,
    showNotice,
  };
})();
