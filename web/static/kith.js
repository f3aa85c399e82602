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

// An import's page follows the import while it runs.
(function () {
  if (!document.querySelector("[data-testid=import-job][data-refresh]")) return;
  setTimeout(() => window.location.reload(), 1000);
})();

// The import form: choosing a file fills in the mapping from its header,
// guessing identifiers by the columns' names. The mapping is left alone
// once the person has written in it.
(function () {
  const form = document.getElementById("start-import");
  if (!form) return;
  const file = form.elements.namedItem("file");
  const map = form.elements.namedItem("map");
  const delim = form.elements.namedItem("delimiter");
  const types = (map.dataset.types || "").split(" ").filter(Boolean);
  let filled = map.value.trim() === "" ? "" : null; // what this code wrote, null once the person wrote
  map.addEventListener("input", () => { filled = null; });
  const synonyms = {
    e_mail: "email", email_address: "email", mail: "email",
    mobile: "phone", mobile_phone: "phone", telephone: "phone", tel: "phone", phone_number: "phone", cell: "phone",
    userid: "user_id", customer_id: "user_id", loyalty: "loyalty_id", loyalty_number: "loyalty_id", loyalty_card: "loyalty_id",
  };
  // split cuts a CSV line into fields, honouring double quotes.
  function split(line, d) {
    const out = [];
    let cur = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') quoted = false; else cur += c;
      } else if (c === '"') quoted = true;
      else if (c === d) { out.push(cur); cur = ""; } else cur += c;
    }
    out.push(cur);
    return out;
  }
  file.addEventListener("change", async () => {
    if (filled === null || !file.files.length) return;
    let head;
    try {
      head = await file.files[0].slice(0, 65536).text();
    } catch (_) {
      return;
    }
    const line = head.replace(/^\uFEFF/, "").split(/\r?\n/)[0];
    // The delimiter the header uses most, of those the form offers.
    let d = delim.value;
    let most = 0;
    for (const o of delim.options) {
      const n = line.split(o.value).length - 1;
      if (n > most) { most = n; d = o.value; }
    }
    delim.value = d;
    const lines = [];
    for (const col of split(line, d)) {
      const name = col.trim();
      if (!name || name.includes("=")) continue;
      let key = name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "");
      if (!key) continue;
      key = synonyms[key] || key;
      lines.push(name + "=" + (types.includes(key) ? "identifier:" : "trait:") + key);
    }
    filled = lines.join("\n");
    map.value = filled;
  });
})();

// The imports list follows the running imports in place, leaving the form
// below it alone.
(function () {
  if (!document.querySelector("tr[data-import][data-running]")) return;
  async function poll() {
    let jobs;
    try {
      const r = await fetch("/imports.json", { credentials: "same-origin" });
      if (!r.ok) return;
      jobs = await r.json();
    } catch (_) {
      setTimeout(poll, 3000);
      return;
    }
    let running = false;
    for (const j of jobs) {
      const row = document.querySelector(`tr[data-import="${CSS.escape(j.id)}"][data-running]`);
      if (!row) continue;
      row.querySelector("[data-testid=import-rows]").textContent = j.rows.toLocaleString("en-US");
      const cell = row.querySelector("[data-testid=import-status]");
      if (j.status === "running") {
        running = true;
        cell.querySelector("progress").value = j.percent;
        cell.querySelector(".percent").textContent = j.percent + " %";
        continue;
      }
      delete row.dataset.running;
      const s = document.createElement("span");
      s.className = j.status === "failed" ? "error small" : "small";
      s.textContent = j.status;
      cell.replaceChildren(s);
    }
    if (running) setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
