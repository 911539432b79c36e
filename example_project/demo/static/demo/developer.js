// The developer panel: Stripe's clock in the emulator, its latest webhooks, a reset.
// billing.js calls Demo.developer.load() with every refresh and runs the
// panel's buttons through its own action loop (Demo.developer.actions).
(function () {
  "use strict";

  const Demo = window.Demo;
  const { area, request, formatNumber } = Demo;
  const config = Demo.config();
  const urls = config.urls;
  const panel = area("developer-panel");

  const STEP_TEXT = {
    day: "Moved Stripe's clock by one day.",
    month: "Moved Stripe's clock by one month.",
    renewal: "Moved Stripe's clock past the next renewal.",
  };

  function outcome(delivery) {
    const code = delivery.status_code ? ` · HTTP ${delivery.status_code}` : "";
    if (delivery.state === "delivered") return `delivered${code}`;
    if (delivery.state === "failed") return `failed${code}${delivery.error ? ` · ${delivery.error}` : ""}`;
    return `${delivery.state}${code}`;
  }

  function render(state) {
    const when = new Date(state.stripe_time);
    area("stripe-time").textContent = when.toLocaleString("en-GB", {
      dateStyle: "long",
      timeStyle: "short",
      timeZone: "UTC",
    }) + " UTC";
    area("stripe-time").dataset.value = String(state.stripe_now);
    const body = area("deliveries").querySelector("tbody");
    body.replaceChildren();
    for (const delivery of state.deliveries) {
      const row = document.createElement("tr");
      row.dataset.state = delivery.state;
      for (const [index, text] of [delivery.type, outcome(delivery), formatNumber(delivery.attempts)].entries()) {
        const cell = document.createElement("td");
        cell.textContent = text;
        if (index === 2) cell.className = "number";
        row.append(cell);
      }
      body.append(row);
    }
    area("deliveries-empty").hidden = state.deliveries.length > 0;
  }

  async function load() {
    const state = await request("GET", urls.developer_state);
    render(state);
    return state;
  }

  async function advance(step) {
    const state = await request("POST", urls.developer_clock, { step });
    render(state);
    Demo.showNotice(STEP_TEXT[step]);
    await Demo.refresh();
  }

  Demo.developer = panel
    ? {
        load,
        actions: {
          "clock-day": () => advance("day"),
          "clock-month": () => advance("month"),
          "clock-renewal": () => advance("renewal"),
          async reset() {
            if (!window.confirm("Forget every customer, payment and token, and start afresh?")) return;
            await request("POST", urls.developer_reset, {});
            window.location.assign(`${urls.login}?reset=1`);
            await new Promise(() => {});
          },
        },
      }
    : null;
})();
