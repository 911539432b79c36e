// The billing page: the account from /billing/account/, and a button per API call.
(function () {
  "use strict";

  const Demo = window.Demo;
  const { area, request, showError, showNotice, clearMessages, formatNumber, formatDate } = Demo;
  const config = Demo.config();
  const urls = config.urls;

  // Statuses in which a subscription still gives its plan (Stripe keeps
  // serving a past-due one while it retries the card).
  const ENTITLED = new Set(["active", "trialing", "past_due"]);
  const STATUS_TEXT = {
    active: "Active",
    trialing: "Trial",
    past_due: "Past due: update your card in Manage billing",
    incomplete: "Waiting for the first payment",
    incomplete_expired: "First payment never completed",
    unpaid: "Unpaid",
    canceled: "Ended",
    paused: "Paused",
    none: "No subscription",
  };
  const KIND_TEXT = {
    grant: "Plan allowance",
    purchase: "Purchase",
    adjustment: "Adjustment",
    consume: "Used",
    reserve: "Reserved",
    release: "Reservation released",
    expiry: "Expired",
    refund: "Taken back after a refund",
    dispute: "Held during a dispute",
    reinstate: "Given back: dispute won",
  };
  const REFRESH_EVERY_MS = 15000;

  let account = null;
  let busy = false;
  // Stripe's time in the emulator (Unix seconds), from the developer panel.
  let stripeNow = null;
  // The preview shown on each plan card, by the state it was asked for.
  const previews = new Map();

  const planCards = () => document.querySelectorAll('article[data-kind="plan"]');
  const itemCards = () => document.querySelectorAll("article[data-kind]");
  const currencySelect = () => document.getElementById("currency");

  function entitled() {
    return Boolean(account && account.plan && ENTITLED.has(account.status));
  }

  function showCurrency() {
    const chosen = currencySelect().value;
    for (const card of itemCards()) {
      let offered = false;
      for (const price of card.querySelectorAll("[data-currency]")) {
        price.hidden = price.dataset.currency !== chosen;
        offered = offered || !price.hidden;
      }
      card.querySelector('[data-role="unavailable"]').hidden = offered;
      card.classList.toggle("not-offered", !offered);
    }
  }

  function updateButtons() {
    const subscribed = entitled();
    const canceling = subscribed && account.cancel_at_period_end;
    for (const card of planCards()) {
      const current = subscribed && account.plan.id === Number(card.dataset.id);
      card.classList.toggle("current", current);
      card.querySelector('[data-role="current"]').hidden = !current;
      card.querySelector('[data-action="subscribe"]').hidden = subscribed;
      card.querySelector('[data-action="switch"]').hidden = !subscribed || current;
    }
    area("cancel-button").hidden = !subscribed || canceling;
    area("resume-button").hidden = !canceling;
  }

  function setBusy(value) {
    busy = value;
    document.body.classList.toggle("busy", value);
    for (const button of document.querySelectorAll("button[data-action]")) {
      button.disabled = value;
    }
  }

  function renderBalance(balance) {
    const allowance = account ? account.period_allowance : 0;
    const shown = area("token-balance");
    shown.textContent = formatNumber(balance);
    shown.dataset.value = String(balance);
    let percent = 0;
    let label;
    if (balance < 0) {
      label = `You owe ${formatNumber(-balance)} tokens after a refund; new tokens pay it back first.`;
    } else if (allowance > 0) {
      percent = Math.min(100, (balance / allowance) * 100);
      label = `${formatNumber(balance)} of your plan's ${formatNumber(allowance)} tokens per period`;
      if (balance > allowance) label += " (with purchased tokens)";
    } else {
      percent = balance > 0 ? 100 : 0;
      label = balance > 0 ? "Tokens left (no plan)" : "No tokens yet: subscribe or buy a package.";
    }
    const bar = area("token-progress");
    bar.querySelector(".progress-bar").style.width = `${percent.toFixed(1)}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(percent)));
    bar.classList.toggle("low", allowance > 0 && percent < 10);
    area("allowance").textContent = label;
  }

  // Counted from Stripe's time when the panel knows it: after the emulator's
  // clock moved, the server's real-time count would be a period too long.
  function daysRemaining(data) {
    if (stripeNow === null || !data.current_period_end) return data.days_remaining;
    const left = Date.parse(data.current_period_end) / 1000 - stripeNow;
    return Math.max(0, Math.ceil(left / 86400));
  }

  function renderAccount(data) {
    const first = account === null;
    account = data;
    const plan = data.plan;
    const canceling = data.cancel_at_period_end && ENTITLED.has(data.status);
    area("plan-name").textContent = plan ? plan.name : "No plan";
    const status = area("plan-status");
    status.dataset.status = canceling ? "canceling" : data.status;
    status.textContent = canceling
      ? `Cancels on ${formatDate(data.current_period_end)}`
      : STATUS_TEXT[data.status] || data.status;
    const days = daysRemaining(data);
    area("days-remaining").textContent =
      plan && ENTITLED.has(data.status) ? `${days} ${days === 1 ? "day" : "days"} remaining` : "";
    area("past-due-banner").hidden = data.status !== "past_due";
    renderBalance(data.token_balance);
    if (first && entitled()) {
      // Plan switches keep the subscription's currency: show its prices.
      const option = currencySelect().querySelector(`option[value="${data.currency}"]`);
      if (option) {
        currencySelect().value = data.currency;
        showCurrency();
      }
    }
    updateButtons();
  }

  function renderTransactions(page) {
    const body = area("transactions").querySelector("tbody");
    body.replaceChildren();
    for (const entry of page.results) {
      const row = document.createElement("tr");
      row.dataset.kind = entry.kind;
      const cells = [
        new Date(entry.created).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" }),
        entry.description || KIND_TEXT[entry.kind] || entry.kind,
        `${entry.amount > 0 ? "+" : ""}${formatNumber(entry.amount)}`,
        formatNumber(entry.balance_after),
      ];
      cells.forEach((text, index) => {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (index >= 2) cell.className = "number";
        if (index === 2) cell.classList.add(entry.amount > 0 ? "plus" : "minus");
        row.append(cell);
      });
      body.append(row);
    }
    area("transactions-empty").hidden = page.results.length > 0;
  }

  function previewText(preview) {
    if (!preview.due_now) {
      return `Next invoice: ${preview.display} on ${formatDate(preview.due_at)}, with the difference prorated.`;
    }
    if (preview.total < 0) {
      const credit = Demo.formatMoney(-preview.total, preview.currency);
      return `You pay ${preview.display} today; ${credit} goes to your balance.`;
    }
    return `You pay ${preview.display} today.`;
  }

  // Before a switch, what it costs: Stripe's invoice preview, asked once per
  // plan for each state of the subscription.
  async function showPreviews() {
    for (const card of planCards()) {
      const line = card.querySelector('[data-role="preview"]');
      const offered = entitled() && account.plan.id !== Number(card.dataset.id);
      if (!offered) {
        line.hidden = true;
        continue;
      }
      const key = [card.dataset.id, account.plan.id, account.status, account.current_period_end].join(":");
      if (!previews.has(key)) {
        previews.set(
          key,
          request("POST", urls.preview, { plan_id: Number(card.dataset.id) }).catch((error) => {
            previews.delete(key);
            throw error;
          }),
        );
      }
      const preview = await previews.get(key);
      line.textContent = previewText(preview);
      line.dataset.amount = String(preview.amount_due);
      line.hidden = false;
    }
  }

  async function refresh() {
    if (!config.authenticated) return;
    const developer = Demo.developer;
    const [data, page, payments, state] = await Promise.all([
      request("GET", urls.account),
      request("GET", `${urls.transactions}?page_size=10`),
      request("GET", `${urls.payments}?page_size=10`),
      developer ? developer.load() : Promise.resolve(null),
    ]);
    if (state) stripeNow = state.stripe_now;
    renderAccount(data);
    renderTransactions(page);
    Demo.history.render(payments);
    await showPreviews();
  }
  Demo.refresh = refresh;

  async function run(action) {
    if (busy) return;
    setBusy(true);
    clearMessages();
    try {
      await action();
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  }

  function goTo(url) {
    // Keep the buttons disabled while the browser leaves for Stripe.
    window.location.assign(url);
    return new Promise(() => {});
  }

  const ACTIONS = {
    async subscribe(card) {
      const data = await request("POST", urls.checkout, {
        plan_type: "full",
        plan_id: Number(card.dataset.id),
        currency: currencySelect().value,
      });
      await goTo(data.url);
    },
    async buy(card) {
      const quantity = Number(card.querySelector('[data-role="quantity"]').value);
      if (!Number.isInteger(quantity) || quantity < 1 || quantity > config.max_quantity) {
        throw new Demo.ApiError(
          "invalid_quantity",
          `The quantity must be a whole number from 1 to ${config.max_quantity}.`,
          0,
        );
      }
      const data = await request("POST", urls.checkout, {
        plan_type: "token",
        plan_id: Number(card.dataset.id),
        currency: currencySelect().value,
        quantity,
      });
      await goTo(data.url);
    },
    async switch(card) {
      const data = await request("POST", urls.change, { plan_id: Number(card.dataset.id) });
      renderAccount(data);
      showNotice(`You are now on the ${card.dataset.name} plan; the price difference is prorated.`);
      await refresh();
    },
    async cancel() {
      const data = await request("POST", urls.cancel, {});
      renderAccount(data);
      showNotice(`Your plan stays active until ${formatDate(data.current_period_end)}, then ends.`);
    },
    async resume() {
      const data = await request("POST", urls.resume, {});
      renderAccount(data);
      showNotice("Your subscription will renew as usual.");
    },
    async portal() {
      const data = await request("POST", urls.portal, {});
      await goTo(data.url);
    },
    async "update-card"() {
      // Straight to the portal's card form; it comes back here once the card is saved.
      const data = await request("POST", urls.portal, { flow: "payment_method_update" });
      await goTo(data.url);
    },
    async "use-tokens"() {
      const data = await request("POST", urls.use_tokens, { amount: config.default_use });
      renderBalance(data.token_balance);
      showNotice(`Used ${formatNumber(config.default_use)} tokens.`);
      await refresh();
    },
  };

  if (Demo.developer) Object.assign(ACTIONS, Demo.developer.actions);

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !(button.dataset.action in ACTIONS)) return;
    const card = button.closest("article[data-kind]");
    run(() => ACTIONS[button.dataset.action](card));
  });

  currencySelect().addEventListener("change", showCurrency);

  // Tokens change behind the page's back (a renewal, a webhook after the
  // portal): look again when the tab comes back and every few seconds.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !busy) refresh().catch(showError);
  });
  window.setInterval(() => {
    if (document.visibilityState === "visible" && !busy) refresh().catch(showError);
  }, REFRESH_EVERY_MS);

  // Checkout's "Cancel and go back" lands here with ?checkout=canceled.
  const query = new URLSearchParams(window.location.search);
  if (query.get("checkout") === "canceled") {
    showNotice("Checkout canceled: nothing was charged.");
    query.delete("checkout");
    const rest = query.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? `?${rest}` : ""));
  }

  showCurrency();
  refresh().catch(showError);
})();
