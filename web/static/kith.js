// Kith console: small progressive enhancements. Every page works without it.
"use strict";

// Ask before destructive actions. A form with a "confirmed" field is asked
// on a page of its own by the server unless the person said yes here.
document.addEventListener("submit", (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (!msg) return;
  if (!window.confirm(msg)) {
    e.preventDefault();
    return;
  }
  const confirmed = e.target.elements.namedItem("confirmed");
  if (confirmed) confirmed.value = "yes";
});

// Show the demo's loading progress while it runs.
(function () {
  const strip = document.getElementById("demo-progress");
  if (!strip) return;
  const bar = strip.querySelector("progress");
  const count = strip.querySelector(".count");
  const label = strip.querySelector(".label");
  async function poll() {
    let s;
    try {
      const r = await fetch("/status.json", { credentials: "same-origin" });
      if (!r.ok) return;
      s = await r.json();
    } catch (_) {
      setTimeout(poll, 3000);
      return;
    }
    const d = s.demo;
    if (!d) return;
    if (d.error) {
      strip.hidden = false;
      strip.classList.add("failed");
      label.textContent = "Loading the demo failed: " + d.error;
      return;
    }
    const folding = d.done && s.lag_events > 0;
    if (d.done && !folding) {
      if (!strip.hidden) {
        label.textContent = "Demo history loaded.";
        bar.value = 100;
        count.textContent = "";
        setTimeout(() => { strip.hidden = true; }, 4000);
      }
      return;
    }
    strip.hidden = false;
    const pct = d.total ? Math.floor((100 * d.sent) / d.total) : 0;
    bar.value = pct;
    if (folding) {
      label.textContent = "Building profiles…";
      count.textContent = s.lag_events.toLocaleString() + " events to go";
    } else {
      count.textContent = d.sent.toLocaleString() + " of " + d.total.toLocaleString() + " events (" + pct + "%)";
    }
    setTimeout(poll, 1000);
  }
  poll();
})();
