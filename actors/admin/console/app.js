// The ispflow web console: a thin client of the admin API (/v1). The bearer
// token lives in sessionStorage only and travels in the Authorization
// header, never in a URL. Every value from the API reaches the page as text
// (textContent or text nodes); nothing is parsed as HTML.
"use strict";

(function () {
  const token_key = "ispflow.console.token";

  // -- DOM helpers -----------------------------------------------------------

  function $(id) {
    return document.getElementById(id);
  }

  function append(parent, child) {
    if (child === null || child === undefined)
      return;
    if (child instanceof Node)
      parent.appendChild(child);
    else
      parent.appendChild(document.createTextNode(String(child)));
  }

  // el("td", {class: "x"}, "text", node, ...): children are text or nodes.
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "class")
        e.className = v;
      else if (k === "data")
        Object.assign(e.dataset, v);
      else if (k === "onclick")
        e.addEventListener("click", v);
      else
        e.setAttribute(k, v);
    }
    for (const c of children)
      append(e, c);
    return e;
  }

  function clear(node) {
    while (node.firstChild)
      node.removeChild(node.firstChild);
  }

  // A class name derived from a value: only [a-z0-9_-] survive.
  function token_class(prefix, value) {
    return prefix + String(value || "none").toLowerCase().replace(/[^a-z0-9_-]/g, "_");
  }

  function text_or_dash(v) {
    return v === null || v === undefined || v === "" ? "\u2014" : String(v);
  }

  function json_text(v) {
    return JSON.stringify(v, null, 2);
  }

  function is_empty_object(v) {
    return v !== null && typeof v === "object" && !Array.isArray(v)
      && Object.keys(v).length === 0;
  }

  function state_badge(state) {
    return el("span", {class: "state " + token_class("state-", state)}, text_or_dash(state));
  }

  function fields(dl, pairs) {
    clear(dl);
    for (const [name, value] of pairs) {
      append(dl, el("dt", null, name));
      append(dl, el("dd", null, value instanceof Node ? value : text_or_dash(value)));
    }
  }

  // -- messages --------------------------------------------------------------

  function show_message(text) {
    const m = $("message");
    m.textContent = text;
    m.hidden = false;
  }

  function clear_message() {
    const m = $("message");
    m.textContent = "";
    m.hidden = true;
  }

  function show_result(text, ok) {
    const r = $("result");
    r.textContent = text;
    r.className = "result " + (ok ? "ok" : "failed");
    r.hidden = false;
  }

  // -- token -----------------------------------------------------------------

  function get_token() {
    try {
      return window.sessionStorage.getItem(token_key) || "";
    } catch (e) {
      return "";
    }
  }

  function set_token(value) {
    try {
      if (value)
        window.sessionStorage.setItem(token_key, value);
      else
        window.sessionStorage.removeItem(token_key);
    } catch (e) {
      show_message("The browser refuses session storage; the token cannot be kept.");
    }
    $("token-state").textContent = get_token() ? "token set" : "no token";
  }

  // -- API -------------------------------------------------------------------

  class api_error extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body) {
    const headers = {"Accept": "application/json"};
    const t = get_token();
    if (t)
      headers["Authorization"] = "Bearer " + t;
    const init = {method, headers, cache: "no-store", credentials: "omit",
                  redirect: "error"};
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new api_error(0, "network", "the admin API cannot be reached");
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (e) {
      data = null;
    }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new api_error(res.status, err.code || "http_" + res.status,
                          err.message || res.statusText || "request failed");
    }
    return {status: res.status, data};
  }

  function describe(err) {
    if (!(err instanceof api_error))
      return "Unexpected error: " + String(err && err.message ? err.message : err);
    switch (err.status) {
      case 0:
        return "Network error: the admin API cannot be reached.";
      case 401:
        return "Not authorised (401): the token is missing or unknown. Enter a valid token above.";
      case 403:
        if (err.code === "forbidden_tenant")
          return "Forbidden (403): this token is restricted to another tenant.";
        return "Forbidden (403): this token may not do that (" + err.message + ").";
      case 404:
        return "Not found (404): " + err.message + ".";
      case 409:
        return "Refused (409, " + err.code + "): " + err.message + ".";
      case 422:
        return "Rejected by intake's checks (422, " + err.code + "): " + err.message + ".";
      case 501:
        return "Not available in this process (501): " + err.message + ".";
      default:
        return "Error " + err.status + " (" + err.code + "): " + err.message;
    }
  }

  function enc(id) {
    return encodeURIComponent(String(id));
  }

  // -- confirm dialog ---------------------------------------------------------

  function confirm_action(text) {
    const dlg = $("confirm");
    $("confirm-text").textContent = text;
    return new Promise((resolve) => {
      const done = (answer) => {
        $("confirm-ok").removeEventListener("click", ok);
        $("confirm-no").removeEventListener("click", no);
        dlg.removeEventListener("cancel", no);
        if (dlg.open)
          dlg.close();
        resolve(answer);
      };
      const ok = () => done(true);
      const no = () => done(false);
      $("confirm-ok").addEventListener("click", ok);
      $("confirm-no").addEventListener("click", no);
      dlg.addEventListener("cancel", no);
      dlg.showModal();
      $("confirm-no").focus();
    });
  }

  // -- views -----------------------------------------------------------------

  const loaded = {sagas: false, subscribers: false, "dead-letters": false, breakers: false};
  let current_view = "sagas";

  function show_view(name) {
    current_view = name;
    for (const v of ["sagas", "subscribers", "dead-letters", "breakers"]) {
      $("view-" + v).hidden = v !== name;
      $("tab-" + v).setAttribute("aria-pressed", v === name ? "true" : "false");
    }
    if (!loaded[name] && get_token())
      reload_view(name);
  }

  function reload_view(name) {
    loaded[name] = true;
    if (name === "sagas")
      load_sagas(false);
    else if (name === "subscribers")
      load_subscribers(false);
    else if (name === "dead-letters")
      load_dead_letters(false);
    else
      load_breakers();
  }

  function form_query(form, names) {
    const q = new URLSearchParams();
    for (const n of names) {
      const v = form.elements[n].value.trim();
      if (v)
        q.set(n, v);
    }
    return q;
  }

  // -- sagas -----------------------------------------------------------------

  const sagas = {query: null, cursor: null, shown: 0, generation: 0};
  let open_saga = null;

  async function load_sagas(more) {
    const gen = more ? sagas.generation : ++sagas.generation;
    if (!more) {
      sagas.query = form_query($("saga-filters"), ["tenant", "subscriber", "type", "state", "from", "to"]);
      sagas.cursor = null;
      sagas.shown = 0;
      clear($("saga-rows"));
      $("saga-more").hidden = true;
      $("saga-count").textContent = "loading\u2026";
    }
    const q = new URLSearchParams(sagas.query);
    if (more && sagas.cursor)
      q.set("cursor", sagas.cursor);
    try {
      const {data} = await api("GET", "/v1/sagas?" + q.toString());
      if (gen !== sagas.generation)
        return;
      clear_message();
      const rows = $("saga-rows");
      for (const s of data.items || []) {
        const open = el("button", {type: "button", class: "link", data: {sagaId: s.id}}, s.id);
        open.addEventListener("click", () => open_saga_detail(s.id));
        append(rows, el("tr", {class: s.id === open_saga ? "selected" : "", data: {sagaId: s.id}},
          el("td", null, open),
          el("td", null, text_or_dash(s.type)),
          el("td", null, text_or_dash(s.tenant_id)),
          el("td", null, text_or_dash(s.subscriber_id)),
          el("td", null, state_badge(s.state)),
          el("td", null, text_or_dash(s.failed_step)),
          el("td", {class: "time"}, text_or_dash(s.created_at)),
          el("td", {class: "time"}, text_or_dash(s.updated_at))));
        sagas.shown += 1;
      }
      sagas.cursor = data.next_cursor || null;
      $("saga-more").hidden = !sagas.cursor;
      $("saga-count").textContent = sagas.shown + " shown" + (sagas.cursor ? ", more available" : "");
    } catch (err) {
      if (gen !== sagas.generation)
        return;
      $("saga-count").textContent = "";
      show_message(describe(err));
    }
  }

  // -- subscribers -----------------------------------------------------------

  const subs = {query: null, cursor: null, shown: 0, generation: 0};

  async function load_subscribers(more) {
    const gen = more ? subs.generation : ++subs.generation;
    if (!more) {
      subs.query = form_query($("sub-filters"), ["tenant", "state", "plan", "nas"]);
      subs.cursor = null;
      subs.shown = 0;
      clear($("sub-rows"));
      $("sub-more").hidden = true;
      $("sub-count").textContent = "loading\u2026";
    }
    const q = new URLSearchParams(subs.query);
    if (more && subs.cursor)
      q.set("cursor", subs.cursor);
    try {
      const {data} = await api("GET", "/v1/subscribers?" + q.toString());
      if (gen !== subs.generation)
        return;
      clear_message();
      const rows = $("sub-rows");
      for (const s of data.items || []) {
        const open = el("button", {type: "button", class: "link"}, s.id);
        open.addEventListener("click", () => open_subscriber(s.tenant_id, s.id));
        append(rows, el("tr", null,
          el("td", null, open),
          el("td", null, text_or_dash(s.tenant_id)),
          el("td", null, state_badge(s.state)),
          el("td", null, text_or_dash(s.plan_id)),
          el("td", null, text_or_dash(s.service_type)),
          el("td", null, text_or_dash(s.ip_address)),
          el("td", null, text_or_dash(s.onu_id)),
          el("td", null, text_or_dash(s.cpe_id)),
          el("td", null, text_or_dash(s.last_saga_name) + " " + text_or_dash(s.last_outcome)),
          el("td", {class: "time"}, text_or_dash(s.updated_at))));
        subs.shown += 1;
      }
      subs.cursor = data.next_cursor || null;
      $("sub-more").hidden = !subs.cursor;
      $("sub-count").textContent = subs.shown + " shown" + (subs.cursor ? ", more available" : "");
    } catch (err) {
      if (gen !== subs.generation)
        return;
      $("sub-count").textContent = "";
      show_message(describe(err));
    }
  }

  // A saga of the subscriber, opened in the Sagas view.
  function saga_in_view(id) {
    const b = el("button", {type: "button", class: "link"}, id);
    b.addEventListener("click", () => {
      show_view("sagas");
      open_saga_detail(id);
    });
    return b;
  }

  async function open_subscriber(tenant, id) {
    try {
      const {data} = await api("GET", "/v1/subscribers/" + enc(id) + "?tenant=" + enc(tenant));
      clear_message();
      const r = data.record || {};
      $("sub-d-id").textContent = data.tenant_id + "/" + data.id;
      const dl = $("sub-fields");
      clear(dl);
      fields(dl, [
        ["State", state_badge(r.state || "none")],
        ["Plan", text_or_dash(r.plan_id)],
        ["Access", text_or_dash(r.service_type)],
        ["RADIUS user", text_or_dash(r.radius_username)],
        ["IP", text_or_dash(r.ip_address)],
        ["ONU", text_or_dash(r.onu_id)],
        ["CPE", text_or_dash(r.cpe_id)],
        ["NAS", text_or_dash(r.nas_identifier)],
        ["Last saga", text_or_dash(r.last_saga_id)],
        ["Outcome", text_or_dash(r.last_outcome)],
        ["Updated", text_or_dash(r.updated_at)],
        ["Version", text_or_dash(r.version)]]);
      const rows = $("sub-sagas");
      clear(rows);
      for (const s of data.sagas || []) {
        append(rows, el("tr", null,
          el("td", null, saga_in_view(s.id)),
          el("td", null, text_or_dash(s.name)),
          el("td", null, state_badge(s.state)),
          el("td", null, text_or_dash(s.failed_step)),
          el("td", {class: "time"}, text_or_dash(s.created_at)),
          el("td", {class: "time"}, text_or_dash(s.updated_at))));
      }
      $("sub-detail").hidden = false;
    } catch (err) {
      show_message(describe(err));
    }
  }

  function retry_allowed(state) {
    return state === "needs_attention";
  }

  function cancel_allowed(state) {
    return state === "pending" || state === "running" || state === "needs_attention";
  }

  function replay_allowed(s) {
    return s.inbox_id !== null && s.inbox_id !== undefined
      && ["completed", "compensated", "cancelled", "needs_attention"].includes(s.state);
  }

  async function open_saga_detail(id) {
    open_saga = id;
    for (const tr of $("saga-rows").querySelectorAll("tr"))
      tr.classList.toggle("selected", tr.dataset.sagaId === id);
    try {
      const {data} = await api("GET", "/v1/sagas/" + enc(id));
      if (open_saga !== id)
        return;
      clear_message();
      const first = $("saga-detail").hidden;
      render_saga(data);
      if (first)
        $("saga-detail").scrollIntoView({block: "start"});
    } catch (err) {
      show_message(describe(err));
    }
  }

  function saga_link(id) {
    const b = el("button", {type: "button", class: "link", data: {sagaId: id}}, id);
    b.addEventListener("click", () => open_saga_detail(id));
    return b;
  }

  function render_saga(s) {
    $("d-id").textContent = s.id;
    fields($("d-fields"), [
      ["Type", s.type + (s.version !== undefined ? " v" + s.version : "")],
      ["State", state_badge(s.state)],
      ["Tenant", s.tenant_id],
      ["Subscriber", s.subscriber_id],
      ["Service type", s.service_type],
      ["Failed step", s.failed_step],
      ["Error", s.error],
      ["Causation", s.causation],
      ["Created", s.created_at],
      ["Updated", s.updated_at],
      ["Cursor / generation", text_or_dash(s.cursor) + " / " + text_or_dash(s.generation)],
      ["Cancel requested", s.cancel_requested ? "yes" : "no"],
      ["Owner", s.owner],
      ["Replay of", s.replay_of ? saga_link(s.replay_of) : null],
    ]);
    const steps = $("steps");
    clear(steps);
    for (const t of s.steps || []) {
      const out = t.output === null || t.output === undefined || is_empty_object(t.output)
        ? text_or_dash(null)
        : el("pre", {class: "json"}, json_text(t.output));
      const comp = t.compensation_attempts || t.compensation_started_at
        ? text_or_dash(t.compensation_attempts) + " attempts, since " + text_or_dash(t.compensation_started_at)
        : text_or_dash(null);
      append(steps, el("tr", {class: token_class("step-", t.state), data: {step: t.name}},
        el("td", null, text_or_dash(t.idx)),
        el("td", null, text_or_dash(t.name) + (t.reconcile ? " (reconcile)" : "")),
        el("td", null, state_badge(t.state)),
        el("td", null, text_or_dash(t.attempts)),
        el("td", null, text_or_dash(t.ran_by)),
        el("td", {class: "error"}, text_or_dash(t.last_error)),
        el("td", null, out),
        el("td", {class: "time"}, text_or_dash(t.first_attempt_at)),
        el("td", {class: "time"}, text_or_dash(t.next_attempt_at)),
        el("td", null, comp)));
    }
    if (!s.steps || s.steps.length === 0)
      append(steps, el("tr", null, el("td", {colspan: "10", class: "muted"}, "no steps recorded yet")));
    const i = s.input;
    if (i)
      fields($("d-input"), [
        ["Event", i.source + " " + i.event_id],
        ["Type", i.type],
        ["Event time", i.event_time],
        ["Received", i.received_at],
        ["Origin", i.topic + " [" + i.partition + "] @" + i.offset],
      ]);
    else
      fields($("d-input"), [["Event", "none (not started by an input event)"]]);
    $("d-payload").textContent = json_text(s.payload === undefined ? null : s.payload);
    const replays = $("d-replays");
    clear(replays);
    for (const r of s.replays || [])
      append(replays, el("li", null, "saga ", saga_link(r)));
    for (const p of s.pending_replays || [])
      append(replays, el("li", {class: "muted"},
        "event " + p.source + " " + p.event_id + " recorded " + p.created_at + ", saga not started yet"));
    if (replays.childNodes.length === 0)
      append(replays, el("li", {class: "muted"}, "none"));
    $("action-retry").hidden = !retry_allowed(s.state);
    $("action-cancel").hidden = !cancel_allowed(s.state);
    $("action-replay").hidden = !replay_allowed(s);
    $("saga-detail").hidden = false;
    $("saga-detail").dataset.sagaId = s.id;
    $("saga-detail").dataset.state = s.state;
  }

  const saga_actions = {
    retry: {
      question: (id) => "Retry saga " + id + " from its failed step?",
      done: (id) => "Retry of saga " + id + " accepted.",
    },
    cancel: {
      question: (id) => "Cancel saga " + id + "? Steps already done are compensated.",
      done: (id) => "Cancel of saga " + id + " accepted.",
    },
    replay: {
      question: (id) => "Start a new saga from the input event of saga " + id + "?",
      done: (id, data) => "Replay of saga " + id + " recorded as event "
        + (data && data.event ? data.event.source + " " + data.event.event_id : "?")
        + "; a new saga linked to this one starts from it.",
    },
  };

  async function saga_action(kind) {
    const id = open_saga;
    if (!id)
      return;
    const a = saga_actions[kind];
    if (!(await confirm_action(a.question(id))))
      return;
    try {
      const {data} = await api("POST", "/v1/sagas/" + enc(id) + "/" + kind);
      // Another instance owns the saga and has not acted yet (202).
      if (data && (data.state === "queued" || data.state === "taken"))
        show_result(kind + " of saga " + id + " recorded as command " + data.id
          + "; the instance that owns the saga has not acted on it yet.", true);
      else
        show_result(a.done(id, data), true);
      open_saga_detail(id);
    } catch (err) {
      show_result(kind + " of saga " + id + " failed. " + describe(err), false);
    }
  }

  // -- dead letters ----------------------------------------------------------

  const dls = {query: null, cursor: null, shown: 0, generation: 0};
  let open_dl = null;
  let open_dl_binary = false;

  async function load_dead_letters(more) {
    const gen = more ? dls.generation : ++dls.generation;
    if (!more) {
      dls.query = form_query($("dl-filters"), ["tenant", "error", "redriven", "from", "to"]);
      dls.cursor = null;
      dls.shown = 0;
      clear($("dl-rows"));
      $("dl-more").hidden = true;
      $("dl-count").textContent = "loading\u2026";
    }
    const q = new URLSearchParams(dls.query);
    if (more && dls.cursor)
      q.set("cursor", dls.cursor);
    try {
      const {data} = await api("GET", "/v1/dead-letters?" + q.toString());
      if (gen !== dls.generation)
        return;
      clear_message();
      const rows = $("dl-rows");
      for (const d of data.items || []) {
        const open = el("button", {type: "button", class: "link", data: {deadLetterId: String(d.id)}}, String(d.id));
        open.addEventListener("click", () => open_dead_letter(d.id));
        append(rows, el("tr", {data: {deadLetterId: String(d.id)}},
          el("td", null, open),
          el("td", null, text_or_dash(d.tenant_id)),
          el("td", null, text_or_dash(d.ce_type)),
          el("td", null, text_or_dash(d.ce_id)),
          el("td", null, text_or_dash(d.error)),
          el("td", {class: "error"}, text_or_dash(d.detail)),
          el("td", {class: "time"}, text_or_dash(d.created_at)),
          el("td", {class: "time"}, text_or_dash(d.redriven_at))));
        dls.shown += 1;
      }
      dls.cursor = data.next_cursor || null;
      $("dl-more").hidden = !dls.cursor;
      $("dl-count").textContent = dls.shown + " shown" + (dls.cursor ? ", more available" : "");
    } catch (err) {
      if (gen !== dls.generation)
        return;
      $("dl-count").textContent = "";
      show_message(describe(err));
    }
  }

  async function open_dead_letter(id) {
    open_dl = id;
    try {
      const {data} = await api("GET", "/v1/dead-letters/" + enc(id));
      if (open_dl !== id)
        return;
      clear_message();
      const first = $("dl-detail").hidden;
      render_dead_letter(data);
      if (first)
        $("dl-detail").scrollIntoView({block: "start"});
    } catch (err) {
      show_message(describe(err));
    }
  }

  function render_dead_letter(d) {
    $("dl-d-id").textContent = String(d.id);
    let key = d.key;
    if (d.key_base64 !== undefined)
      key = "(base64) " + d.key_base64;
    fields($("dl-fields"), [
      ["Origin", d.topic + " [" + d.partition + "] @" + d.offset],
      ["Tenant", d.tenant_id],
      ["Event", text_or_dash(d.ce_source) + " " + text_or_dash(d.ce_id)],
      ["Type", d.ce_type],
      ["Subject", d.ce_subject],
      ["Key", key],
      ["Error", d.error],
      ["Detail", d.detail],
      ["Created", d.created_at],
      ["Re-driven", d.redriven_at],
    ]);
    const hs = $("dl-headers");
    clear(hs);
    for (const h of d.headers || []) {
      const k = h.key !== undefined ? h.key : "(base64) " + h.key_base64;
      const v = h.value === null ? "(null)"
        : h.value !== undefined ? h.value : "(base64) " + h.value_base64;
      append(hs, el("tr", null, el("td", null, k), el("td", null, v)));
    }
    const payload = $("dl-payload");
    open_dl_binary = false;
    if (d.value !== undefined)
      payload.value = json_text(d.value);
    else if (d.value_text !== undefined)
      payload.value = d.value_text;
    else {
      payload.value = d.value_base64 || "";
      open_dl_binary = true;
    }
    const done = !!d.redriven_at;
    $("dl-redrive").disabled = done;
    $("dl-redrive-edited").disabled = done || open_dl_binary;
    $("dl-detail").hidden = false;
    $("dl-detail").dataset.deadLetterId = String(d.id);
  }

  async function redrive_dead_letter(edited) {
    const id = open_dl;
    if (id === null)
      return;
    let body;
    let question = "Re-drive dead letter " + id + " through intake with its stored payload?";
    if (edited) {
      const text = $("dl-payload").value;
      let payload;
      try {
        payload = JSON.parse(text);
      } catch (e) {
        show_result("The edited payload is not valid JSON: " + e.message, false);
        return;
      }
      body = {payload};
      question = "Re-drive dead letter " + id + " through intake with the edited payload?";
      if (text.includes("[redacted]"))
        question += " It still contains [redacted] values, which would be sent as that literal text.";
    }
    if (!(await confirm_action(question)))
      return;
    try {
      const {data} = await api("POST", "/v1/dead-letters/" + enc(id) + "/redrive", body);
      const ev = data && data.event ? data.event : {};
      show_result("Dead letter " + id + " re-driven as event " + ev.source + " " + ev.event_id
        + " (" + ev.type + ", tenant " + ev.tenant_id + ", subscriber " + ev.subscriber_id + ").", true);
      open_dead_letter(id);
      load_dead_letters(false);
    } catch (err) {
      show_result("Re-drive of dead letter " + id + " failed. " + describe(err), false);
    }
  }

  // -- breakers --------------------------------------------------------------

  async function load_breakers() {
    const rows = $("breaker-rows");
    try {
      const {data} = await api("GET", "/v1/breakers");
      clear_message();
      clear(rows);
      for (const b of data.items || []) {
        const counters = Object.entries(b.counters || {}).map(([k, v]) => k + "=" + v).join(", ");
        const force = el("span", {class: "actions"});
        if (b.state !== "forced_open") {
          const o = el("button", {type: "button", class: "act danger", data: {breakerId: b.id, action: "open"}}, "Open");
          o.addEventListener("click", () => force_breaker(b.id, "open"));
          append(force, o);
        }
        if (b.state !== "closed") {
          const c = el("button", {type: "button", class: "act", data: {breakerId: b.id, action: "close"}}, "Close");
          c.addEventListener("click", () => force_breaker(b.id, "close"));
          append(force, c);
        }
        append(rows, el("tr", {data: {breakerId: b.id}},
          el("td", null, text_or_dash(b.id)),
          el("td", null, text_or_dash(b.tenant_id)),
          el("td", null, text_or_dash(b.system)),
          el("td", null, state_badge(b.state)),
          el("td", null, text_or_dash(counters)),
          el("td", null, force)));
      }
      if (!data.items || data.items.length === 0)
        append(rows, el("tr", null, el("td", {colspan: "6", class: "muted"}, "no breakers")));
    } catch (err) {
      clear(rows);
      show_message(describe(err));
    }
  }

  async function force_breaker(id, action) {
    const q = action === "open"
      ? "Force breaker " + id + " open? Calls to that system stop until it is closed."
      : "Force breaker " + id + " closed?";
    if (!(await confirm_action(q)))
      return;
    try {
      await api("POST", "/v1/breakers/" + enc(id) + "/" + action);
      show_result("Breaker " + id + " forced " + (action === "open" ? "open" : "closed") + ".", true);
      load_breakers();
    } catch (err) {
      show_result("Forcing breaker " + id + " " + action + " failed. " + describe(err), false);
    }
  }

  // -- wiring ----------------------------------------------------------------

  function reset_all() {
    for (const k of Object.keys(loaded))
      loaded[k] = false;
    sagas.generation += 1;
    dls.generation += 1;
    subs.generation += 1;
    open_saga = null;
    open_dl = null;
    for (const id of ["saga-rows", "sub-rows", "sub-sagas", "dl-rows", "breaker-rows"])
      clear($(id));
    for (const id of ["saga-count", "sub-count", "dl-count"])
      $(id).textContent = "";
    for (const id of ["saga-more", "sub-more", "sub-detail", "dl-more", "saga-detail", "dl-detail", "result"])
      $(id).hidden = true;
  }

  function init() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const input = $("token");
      const value = input.value.trim();
      input.value = "";
      set_token(value);
      reset_all();
      if (value) {
        clear_message();
        reload_view(current_view);
      } else {
        show_message("Enter a token to use the console.");
      }
    });
    $("token-forget").addEventListener("click", () => {
      set_token("");
      reset_all();
      show_message("Token forgotten. Enter a token to use the console.");
    });
    for (const v of ["sagas", "subscribers", "dead-letters", "breakers"])
      $("tab-" + v).addEventListener("click", () => show_view(v));
    $("saga-filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      loaded.sagas = true;
      load_sagas(false);
    });
    $("saga-more").addEventListener("click", () => load_sagas(true));
    $("action-retry").addEventListener("click", () => saga_action("retry"));
    $("action-cancel").addEventListener("click", () => saga_action("cancel"));
    $("action-replay").addEventListener("click", () => saga_action("replay"));
    $("detail-reload").addEventListener("click", () => {
      if (open_saga)
        open_saga_detail(open_saga);
    });
    $("detail-close").addEventListener("click", () => {
      open_saga = null;
      $("saga-detail").hidden = true;
      for (const tr of $("saga-rows").querySelectorAll("tr.selected"))
        tr.classList.remove("selected");
    });
    $("sub-filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      loaded.subscribers = true;
      load_subscribers(false);
    });
    $("sub-more").addEventListener("click", () => load_subscribers(true));
    $("sub-close").addEventListener("click", () => {
      $("sub-detail").hidden = true;
    });
    $("dl-filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      loaded["dead-letters"] = true;
      load_dead_letters(false);
    });
    $("dl-more").addEventListener("click", () => load_dead_letters(true));
    $("dl-redrive").addEventListener("click", () => redrive_dead_letter(false));
    $("dl-redrive-edited").addEventListener("click", () => redrive_dead_letter(true));
    $("dl-close").addEventListener("click", () => {
      open_dl = null;
      $("dl-detail").hidden = true;
    });
    $("breakers-reload").addEventListener("click", () => {
      loaded.breakers = true;
      load_breakers();
    });
    set_token(get_token());
    if (get_token())
      reload_view("sagas");
    else
      show_message("Enter a token to use the console.");
    document.body.dataset.ready = "true";
  }

  if (document.readyState === "loading")
    document.addEventListener("DOMContentLoaded", init);
  else
    init();
})();
