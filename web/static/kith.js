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

// The audience builder: the count of who matches follows the expression as
// the marketer types. Without this the Preview button draws the page again.
(function () {
  const form = document.getElementById("audience-builder");
  if (!form) return;
  const input = form.elements.namedItem("expression");
  const out = document.getElementById("audience-result");
  const busy = document.getElementById("audience-busy");
  let timer = 0;
  // One preview at a time, each a scan of every profile: what is typed
  // while one is counted is asked for when it is done.
  let counting = false;
  let again = false;
  async function preview() {
    clearTimeout(timer);
    if (counting) {
      again = true;
      return;
    }
    counting = true;
    busy.hidden = false;
    out.setAttribute("aria-busy", "true");
    let html = null;
    let failure = "";
    try {
      // The form's fields as the form posts them, its CSRF token among them.
      const r = await fetch(form.dataset.preview, {
        method: "POST", body: new URLSearchParams(new FormData(form)), credentials: "same-origin",
      });
      if (r.ok) {
        html = await r.text();
      } else {
        failure = "The count could not be updated (" + r.status + " " + r.statusText + "). Reload the page; you may need to sign in again.";
      }
    } catch (_) {
      failure = "The console could not be reached; the count follows once it is back.";
    }
    counting = false;
    if (again) {
      again = false;
      preview();
      return;
    }
    busy.hidden = true;
    out.removeAttribute("aria-busy");
    if (html !== null) {
      out.innerHTML = html;
      return;
    }
    const p = document.createElement("p");
    p.className = "error";
    p.setAttribute("role", "alert");
    p.textContent = failure;
    out.replaceChildren(p);
  }
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  });
  // Save posts the form as it is; every other submission previews.
  const save = document.getElementById("save");
  form.addEventListener("submit", (e) => {
    if (save && e.submitter === save) return;
    e.preventDefault();
    preview();
  });
  // Enter in the name saves, where the form's first button would preview.
  const name = document.getElementById("audience-name");
  if (name && save) {
    name.addEventListener("keydown", (e) => {
      if (e.key !== "Enter" || e.isComposing) return;
      e.preventDefault();
      form.requestSubmit(save);
    });
  }
  for (const a of document.querySelectorAll("a[data-example]")) {
    a.addEventListener("click", (e) => {
      e.preventDefault();
      input.value = a.dataset.example;
      input.focus();
      preview();
    });
  }
  // An expression the page came with (an example opened in a tab of its
  // own, a form the browser restored) is counted at once.
  if (input.value.trim() !== "" && !out.querySelector("[data-expression]")) preview();
  // "Line 2, column 7" selects that character in the expression.
  out.addEventListener("click", (e) => {
    const at = e.target.closest("[data-line] .position");
    if (!at) return;
    const where = at.closest("[data-line]").dataset;
    const lines = input.value.split("\n");
    const line = Math.min(Number(where.line), lines.length);
    let start = 0;
    for (let i = 0; i < line - 1; i++) start += lines[i].length + 1;
    // Columns count characters; JavaScript strings count UTF-16 units.
    const chars = Array.from(lines[line - 1]);
    const col = Math.min(Number(where.column), chars.length + 1);
    start += chars.slice(0, col - 1).join("").length;
    input.focus();
    input.setSelectionRange(start, start + (chars[col - 1] || "").length);
  });
})();
