// Payment and invoice history: GET /billing/payments/, with what discounts took off.
(function () {
  "use strict";

  const Demo = window.Demo;
  const { area, formatMoney, formatNumber } = Demo;

  const KIND_TEXT = {
    subscription: "Subscription",
    renewal: "Renewal",
    plan_change: "Plan change",
    token_package: "Token package",
  };
  const STATUS_TEXT = {
    pending: "Pending",
    succeeded: "Paid",
    failed: "Failed",
    requires_action: "Needs your action",
    refunded: "Refunded",
    partially_refunded: "Partly refunded",
    disputed: "Disputed",
    canceled: "Canceled",
  };

  function what(payment) {
    const kind = KIND_TEXT[payment.kind] || payment.kind;
    if (payment.kind === "token_package" && payment.quantity > 1) {
      const each = Math.floor(payment.tokens / payment.quantity);
      return `${kind}: ${payment.quantity} × ${formatNumber(each)} tokens`;
    }
    return payment.tokens > 0 ? `${kind}: ${formatNumber(payment.tokens)} tokens` : kind;
  }

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function render(page) {
    const body = area("payments").querySelector("tbody");
    body.replaceChildren();
    for (const payment of page.results) {
      const row = document.createElement("tr");
      row.dataset.kind = payment.kind;
      row.dataset.status = payment.status;
      const discount = payment.amount_discount;
      const invoice = document.createElement("td");
      if (payment.hosted_invoice_url) {
        const link = document.createElement("a");
        link.href = payment.hosted_invoice_url;
        link.textContent = "Invoice";
        link.target = "_blank";
        link.rel = "noopener";
        invoice.append(link);
      }
      row.append(
        cell(new Date(payment.created).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })),
        cell(what(payment)),
        cell(STATUS_TEXT[payment.status] || payment.status),
        cell(formatMoney(payment.amount + discount, payment.currency), "number"),
        cell(discount > 0 ? `-${formatMoney(discount, payment.currency)}` : "", "number discount"),
        cell(payment.display, "number"),
        invoice,
      );
      body.append(row);
    }
    area("payments-empty").hidden = page.results.length > 0;
  }

  Demo.history = { render };
})();
