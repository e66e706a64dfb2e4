// The Spinpost console: a few views over the /api/v1 routes, chosen by the location's hash
// (#/campaigns, #/campaigns/<id>, #/subscribers, #/templates). Everything it shows comes from the API.

import * as api from "./api.js";
import { legend, lineChart } from "./chart.js";
import * as fmt from "./format.js";

const POLL_MS = 1500;
const MAX_SAMPLES = 600;
const PAGE = 50;

const view = document.getElementById("view");
const statusLine = document.getElementById("status");

// Each campaign's figures as the console saw them while polling, oldest first: the charts' time axis.
const samples = new Map();
let pollTimer = null;
let renderCount = 0;

// An element: h("a", { href: "#/x", onclick: fn }, "text", child, [more]).
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return element;
}

function field(label, input, hint) {
  const id = input.id || `field-${Math.random().toString(36).slice(2, 10)}`;
  input.id = id;
  const hintNode = hint ? h("small", { id: `${id}-hint`, class: "hint" }, hint) : null;
  if (hintNode) input.setAttribute("aria-describedby", hintNode.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hintNode);
}

function say(message) {
  statusLine.textContent = message;
}

function report(error) {
  if (error instanceof api.ApiError && error.status === 401) {
    logout("The admin token was refused: log in again.");
    return;
  }
  say(`Error: ${error.message}`);
}

function regionTable(label, head, body) {
  return h("div", { class: "table-scroll", role: "region", "aria-label": label, tabindex: "0" },
    h("table", {}, h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))), body));
}

// ---- polling -----------------------------------------------------------------------------------

function poll(refresh) {
  stopPolling();
  const round = renderCount;
  const tick = async () => {
    try {
      await refresh();
    } catch (error) {
      report(error);
    }
    if (round === renderCount && api.hasToken()) pollTimer = setTimeout(tick, POLL_MS);
  };
  pollTimer = setTimeout(tick, POLL_MS);
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

// Progress and statistics of a campaign, kept as one more sample of its series.
async function sample(campaignId) {
  const path = api.segment(campaignId);
  const [progress, stats] = await Promise.all([
    api.get(`/api/v1/campaigns/${path}/progress`),
    api.get(`/api/v1/feedback/campaigns/${path}/stats`),
  ]);
  const series = samples.get(campaignId) ?? [];
  series.push({ t: new Date(), progress, stats });
  if (series.length > MAX_SAMPLES) series.splice(0, series.length - MAX_SAMPLES);
  samples.set(campaignId, series);
  return { progress, stats };
}

// ---- campaigns ---------------------------------------------------------------------------------

const FINISHED = new Set(["completed", "cancelled"]);

function doneFraction(progress) {
  if (progress.state === "completed") return 1;
  const c = progress.counts;
  const done = c.sent + c.failed + c.blocked + c.skipped;
  const all = done + progress.remaining_messages;
  return all > 0 ? done / all : 0;
}

// A campaign's state, progress, time left, figures and controls; update() takes a new sample.
function campaignSummary(campaign, { link, onChange }) {
  const id = campaign.id;
  const titleId = `campaign-${id}-title`;
  const title = link ? h("a", { href: `#/campaigns/${api.segment(id)}` }, campaign.name) : campaign.name;
  const state = h("span", { class: `badge state-${campaign.state}` }, campaign.state);
  const bar = h("progress", { max: "100", value: "0", "aria-labelledby": `${titleId} ${titleId}-pct` });
  const pct = h("span", { id: `${titleId}-pct`, class: "pct" }, "0%");
  const counted = h("span", { class: "counted" });
  const figures = {};
  const figure = (key, label) => {
    figures[key] = h("dd", { "data-figure": key }, "–");
    return [h("dt", {}, label), figures[key]];
  };
  const list = h("dl", { class: "figures" },
    figure("left", "Time left"), figure("sent", "Sent"), figure("delivered", "Delivered"),
    figure("read", "Read"), figure("open_rate", "Open rate"), figure("replies", "Replies"),
    figure("ratings", "Ratings"));

  const act = async (action, label) => {
    try {
      const path = `/api/v1/campaigns/${api.segment(id)}`;
      const updated = action === "start"
        ? await api.post(`${path}/schedule`, { send_at: "now" })
        : await api.post(`${path}/${action}`);
      campaign.state = updated.state;
      say(`${campaign.name}: ${label}.`);
      showState(updated.state);
      onChange?.();
    } catch (error) {
      report(error);
    }
  };
  const buttons = {
    start: h("button", { type: "button", onclick: () => act("start", "started") }, "Start now"),
    pause: h("button", { type: "button", onclick: () => act("pause", "paused") }, "Pause"),
    resume: h("button", { type: "button", onclick: () => act("resume", "resumed") }, "Resume"),
    cancel: h("button", {
      type: "button", class: "danger",
      onclick: () => window.confirm(`Cancel “${campaign.name}” for good?`) && act("cancel", "cancelled"),
    }, "Cancel"),
  };
  for (const [name, button] of Object.entries(buttons)) {
    button.setAttribute("aria-describedby", titleId);
    button.dataset.action = name;
  }
  const controls = h("div", { class: "controls", role: "group", "aria-label": `Control ${campaign.name}` },
    Object.values(buttons));

  function showState(value) {
    state.textContent = value;
    state.className = `badge state-${value}`;
    buttons.start.hidden = value !== "draft";
    buttons.pause.hidden = !(value === "running" || value === "scheduled");
    buttons.resume.hidden = value !== "paused";
    buttons.cancel.hidden = !["scheduled", "running", "paused"].includes(value);
  }
  showState(campaign.state);

  const element = h("article", { class: "card campaign", "aria-labelledby": titleId, "data-campaign": id },
    h("h2", { id: titleId }, title, " ", state),
    h("p", { class: "meta" }, `${campaign.channel} · template ${campaign.template_id}`),
    h("div", { class: "progress-row" }, bar, pct, counted),
    list, controls);

  function update({ progress, stats }) {
    if (progress.state !== state.textContent) showState(progress.state);
    const fraction = doneFraction(progress);
    const shown = Math.floor(fraction * 100);
    bar.value = shown;
    pct.textContent = `${shown}%`;
    const c = progress.counts;
    counted.textContent = `${c.sent} sent, ${c.failed} failed, ${c.skipped + c.blocked} skipped of ${c.targeted}`;
    figures.left.textContent = FINISHED.has(progress.state) ? "none"
      : progress.estimated_seconds_left === undefined ? "–" : fmt.duration(progress.estimated_seconds_left);
    figures.sent.textContent = String(stats.sent);
    figures.delivered.textContent = String(stats.delivered);
    figures.read.textContent = String(stats.read);
    figures.open_rate.textContent = fmt.percent(stats.open_rate);
    figures.replies.textContent = `${stats.replies} (${stats.replied} people)`;
    figures.ratings.textContent = stats.ratings
      ? `${stats.ratings} (avg ${stats.rating_average})` : "0";
  }
  return { element, update };
}

function newCampaignForm(templates) {
  const input = (name, attributes = {}) => h("input", { name, id: `new-campaign-${name}`, ...attributes });
  const template = h("select", { name: "template_id", id: "new-campaign-template", required: true },
    templates.map((t) => h("option", { value: t.id }, `${t.name} (${t.id})`)));
  const variables = h("textarea", { name: "variables", id: "new-campaign-variables", rows: "3" });
  const start = h("input", { type: "checkbox", name: "start", id: "new-campaign-start", checked: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "stack", id: "new-campaign" },
    field("Name", input("name", { required: true })),
    field("ID", input("id"), "Optional; lower case, digits, - and _."),
    field("Channel", input("channel", { required: true, placeholder: "telegram:shop" }),
      "platform:account, e.g. telegram:shop or whatsapp:1122334455667"),
    field("Template", template),
    field("Variables", variables, "One key=value per line, e.g. code=SNOW-26"),
    field("Only subscribers with all of these tags", input("all_tags"), "Separated by spaces or commas"),
    field("Or with any of these tags", input("any_tags")),
    h("div", { class: "check" }, start, h("label", { for: start.id }, "Start sending now")),
    h("button", { type: "submit" }, "Create campaign"), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    try {
      const body = {
        name: data.get("name"), channel: data.get("channel"), template_id: data.get("template_id"),
        variables: fmt.keyValueLines(data.get("variables")),
        audience: { all_tags: fmt.words(data.get("all_tags")), any_tags: fmt.words(data.get("any_tags")) },
      };
      if (data.get("id")) body.id = data.get("id");
      const created = await api.post("/api/v1/campaigns", body);
      if (start.checked) await api.post(`/api/v1/campaigns/${api.segment(created.id)}/schedule`, { send_at: "now" });
      say(`Campaign ${created.name} created${start.checked ? " and started" : ""}.`);
      location.hash = `#/campaigns/${api.segment(created.id)}`;
    } catch (failure) {
      if (failure instanceof api.ApiError && failure.status === 401) report(failure);
      else error.textContent = failure.message;
    }
  });
  return h("details", { class: "card" }, h("summary", {}, "New campaign"),
    templates.length ? form : h("p", {}, "Create a template first (Templates)."));
}

async function campaignsView() {
  const [campaigns, templates] = await Promise.all([
    api.get(`/api/v1/campaigns?limit=${PAGE}`), api.get(`/api/v1/templates?limit=${PAGE}`),
  ]);
  const cards = h("div", { class: "cards" });
  view.replaceChildren(h("section", { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: "-1" }, "Campaigns"),
    newCampaignForm(templates.items), cards));
  if (!campaigns.items.length) cards.append(h("p", {}, "No campaigns yet."));
  const summaries = campaigns.items.map((c) => {
    const summary = campaignSummary(c, { link: true });
    cards.append(summary.element);
    return [c.id, summary];
  });
  const refresh = () => Promise.all(summaries.map(async ([id, s]) => s.update(await sample(id))));
  await refresh();
  poll(refresh);
}

const SERIES = [
  { key: "sent", label: "Sent", className: "s-sent", from: (s) => s.stats.sent },
  { key: "delivered", label: "Delivered", className: "s-delivered", from: (s) => s.stats.delivered },
  { key: "read", label: "Read", className: "s-read", from: (s) => s.stats.read },
];
const OPEN_RATE = [{ label: "Open rate", className: "s-open", from: (s) => s.stats.open_rate ?? 0 }];

function charts(campaignId) {
  const history = samples.get(campaignId) ?? [];
  const series = (defs) => defs.map((d) => ({ ...d, points: history.map((s) => ({ t: s.t, v: d.from(s) })) }));
  const counts = series(SERIES);
  const rate = series(OPEN_RATE);
  return [
    h("figure", { class: "card" }, h("figcaption", {}, "Messages over time"),
      lineChart({ title: "Sent, delivered and read messages over time", series: counts,
        format: (v) => String(Math.round(v)), timeFormat: fmt.clock }), legend(counts)),
    h("figure", { class: "card", id: "open-rate-chart" }, h("figcaption", {}, "Open rate over time"),
      lineChart({ title: "Open rate (read of delivered) over time", series: rate, yMax: 1,
        format: fmt.percent, timeFormat: fmt.clock }), legend(rate)),
  ];
}

function deliveryRow(entry) {
  const outcome = entry.outcome ?? {};
  const detail = outcome.message_id ?? [outcome.code, outcome.reason].filter(Boolean).join(": ");
  return h("tr", {}, h("td", {}, entry.subscriber), h("td", {}, h("span", { class: `badge d-${outcome.state}` }, outcome.state)),
    h("td", {}, detail || "–"), h("td", {}, String(entry.attempts ?? 0)), h("td", {}, fmt.time(entry.finished_at)));
}

async function campaignView(campaignId) {
  const campaign = await api.get(`/api/v1/campaigns/${api.segment(campaignId)}`);
  const chartHolder = h("div", { class: "charts" });
  const rows = h("tbody");
  const more = h("button", { type: "button", hidden: true }, "Load more deliveries");
  let nextCursor = null;
  const loadDeliveries = async (from) => {
    const page = await api.get(api.withQuery(`/api/v1/campaigns/${api.segment(campaignId)}/deliveries`, { cursor: from }));
    const entries = page.items.flatMap((batch) => batch.entries);
    return { rows: entries.map(deliveryRow), next: page.next_cursor ?? null };
  };
  const reloadDeliveries = async () => {
    const first = await loadDeliveries(undefined);
    rows.replaceChildren(...first.rows);
    if (!first.rows.length) rows.append(h("tr", {}, h("td", { colspan: "5" }, "No deliveries yet.")));
    nextCursor = first.next;
    more.hidden = !nextCursor;
  };
  more.addEventListener("click", async () => {
    try {
      const page = await loadDeliveries(nextCursor);
      rows.append(...page.rows);
      nextCursor = page.next;
      more.hidden = !nextCursor;
    } catch (error) {
      report(error);
    }
  });
  const summary = campaignSummary(campaign, { link: false });
  view.replaceChildren(h("section", { "aria-labelledby": "view-title" },
    h("p", {}, h("a", { href: "#/campaigns" }, "← All campaigns")),
    h("h1", { id: "view-title", tabindex: "-1" }, `Campaign ${campaign.name}`),
    summary.element, chartHolder,
    h("h2", {}, "Deliveries"),
    regionTable("Delivery list", ["Subscriber", "State", "Message or reason", "Attempts", "Finished"], rows), more));
  const refresh = async () => {
    const current = await sample(campaignId);
    summary.update(current);
    chartHolder.replaceChildren(...charts(campaignId));
    if (!more.hidden && nextCursor) return; // the operator is paging: keep what is on screen
    await reloadDeliveries();
  };
  await refresh();
  poll(refresh);
}

// ---- subscribers -------------------------------------------------------------------------------

function subscriberName(s) {
  const profile = s.profile ?? s;
  return [profile.first_name, profile.last_name].filter(Boolean).join(" ")
    || (profile.username ? `@${profile.username}` : "–");
}

async function subscribersView() {
  const channel = h("input", { name: "channel", id: "filter-channel", placeholder: "telegram:shop" });
  const status = h("select", { name: "status", id: "filter-status" },
    ["", "subscribed", "unsubscribed", "blocked"].map((v) => h("option", { value: v }, v || "any")));
  const tag = h("input", { name: "tag", id: "filter-tag" });
  const search = h("input", { type: "search", name: "search", id: "filter-search" });
  const rows = h("tbody");
  const count = h("p", { class: "meta", role: "status" });
  const more = h("button", { type: "button", hidden: true }, "Load more subscribers");
  let loaded = [];
  let nextCursor = null;

  const matches = (s) => {
    const needle = search.value.trim().toLowerCase();
    if (!needle) return true;
    const profile = s.profile ?? s;
    return [s.id, s.address, profile.first_name, profile.last_name, profile.username, ...(s.tags ?? [])]
      .some((v) => v && String(v).toLowerCase().includes(needle));
  };
  const show = () => {
    const shown = loaded.filter(matches);
    rows.replaceChildren(...shown.map((s) => h("tr", {},
      h("td", {}, s.id), h("td", {}, subscriberName(s)),
      h("td", {}, h("span", { class: `badge sub-${s.status}` }, s.status)),
      h("td", {}, (s.tags ?? []).join(", ") || "–"), h("td", {}, s.locale ?? "–"),
      h("td", {}, fmt.time(s.consent?.[0]?.at)))));
    if (!shown.length) rows.append(h("tr", {}, h("td", { colspan: "6" }, "No subscribers match.")));
    count.textContent = `Showing ${shown.length} of ${loaded.length} loaded${nextCursor ? " (more on the server)" : ""}.`;
    more.hidden = !nextCursor;
  };
  const load = async (cursor) => {
    const page = await api.get(api.withQuery("/api/v1/subscribers", {
      channel: channel.value.trim(), status: status.value, tag: tag.value.trim(), limit: PAGE, cursor,
    }));
    loaded = cursor ? loaded.concat(page.items) : page.items;
    nextCursor = page.next_cursor ?? null;
    show();
  };
  const filters = h("form", { class: "filters card", role: "search", "aria-label": "Filter subscribers" },
    field("Channel", channel), field("Status", status), field("Tag", tag),
    field("Search loaded subscribers", search, "Name, username, address, id or tag"),
    h("button", { type: "submit" }, "Apply filters"));
  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load().catch(report);
  });
  search.addEventListener("input", show);
  more.addEventListener("click", () => load(nextCursor).catch(report));
  view.replaceChildren(h("section", { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: "-1" }, "Subscribers"), filters, count,
    regionTable("Subscriber list", ["ID", "Name", "Status", "Tags", "Locale", "Consent given"], rows), more));
  await load();
}

// ---- templates ---------------------------------------------------------------------------------

function newTemplateForm(onCreated) {
  const input = (name, attributes = {}) => h("input", { name, id: `new-template-${name}`, ...attributes });
  const text = h("textarea", { name: "text", id: "new-template-text", rows: "4", required: true });
  const ratings = h("input", { type: "checkbox", name: "ratings", id: "new-template-ratings" });
  const error = h("p", { class: "error", role: "alert" });
  const form = h("form", { class: "stack", id: "new-template" },
    field("Name", input("name", { required: true })),
    field("ID", input("id"), "Optional; derived from the name when empty."),
    field("Locale", input("locale", { value: "en", required: true })),
    field("Text", text, "minijinja, e.g. Hi {{ subscriber.first_name }}! Your code: {{ campaign.variables.code }}"),
    h("div", { class: "check" }, ratings, h("label", { for: ratings.id }, "Add rating buttons (👍 5, 👎 1)")),
    h("fieldset", {}, h("legend", {}, "WhatsApp approved template (optional)"),
      field("Template name", input("wa_name")), field("Language", input("wa_language", { placeholder: "en_US" })),
      field("Parameters", h("textarea", { name: "wa_parameters", id: "new-template-wa_parameters", rows: "2" }),
        "One per line, each a template expression")),
    h("button", { type: "submit" }, "Create template"), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const data = new FormData(form);
    const locale = { text: data.get("text") };
    if (ratings.checked) locale.buttons = [[{ text: "👍", rating: 5 }, { text: "👎", rating: 1 }]];
    if (data.get("wa_name")) {
      locale.whatsapp_template = {
        name: data.get("wa_name"), language: data.get("wa_language") || "en_US",
        parameters: data.get("wa_parameters").split("\n").map((p) => p.trim()).filter(Boolean),
      };
    }
    const body = { name: data.get("name"), default_locale: data.get("locale"), locales: { [data.get("locale")]: locale } };
    if (data.get("id")) body.id = data.get("id");
    try {
      const created = await api.post("/api/v1/templates", body);
      say(`Template ${created.name} saved as version ${created.version.version ?? 1}.`);
      form.reset();
      onCreated(created.id);
    } catch (failure) {
      if (failure instanceof api.ApiError && failure.status === 401) report(failure);
      else error.textContent = failure.message;
    }
  });
  return h("details", { class: "card" }, h("summary", {}, "New template"), form);
}

function renderedMessage(preview) {
  const parts = [
    h("p", { class: "meta" }, `Version ${preview.version} · ${preview.platform} · ${preview.locale}`),
    h("div", { class: "bubble", id: "preview-text" }, preview.text),
  ];
  if (preview.photo_url) parts.push(h("p", {}, `Photo: ${preview.photo_url}`));
  for (const row of preview.buttons ?? []) {
    parts.push(h("p", { class: "preview-buttons" }, row.map((b) => h("span", { class: "chip" }, b.text))));
  }
  if (preview.platform_template) {
    parts.push(h("p", { class: "meta" }, `Approved template: ${JSON.stringify(preview.platform_template)}`));
  }
  return parts;
}

async function templatesView() {
  const [templates, subscribers] = await Promise.all([
    api.get(`/api/v1/templates?limit=${PAGE}`), api.get("/api/v1/subscribers?limit=100"),
  ]);
  const templateSelect = h("select", { id: "preview-template" });
  const subscriberSelect = h("select", { id: "preview-subscriber" },
    h("option", { value: "" }, "Sample values"),
    subscribers.items.map((s) => h("option", { value: s.id }, `${subscriberName(s)} (${s.id})`)));
  const variables = h("textarea", { id: "preview-variables", rows: "3" });
  const output = h("div", { class: "preview", id: "preview-output", "aria-live": "polite" });
  const rows = h("tbody");

  const fill = (items, selected) => {
    templateSelect.replaceChildren(...items.map((t) => h("option", { value: t.id, selected: t.id === selected }, `${t.name} (${t.id})`)));
    rows.replaceChildren(...items.map((t) => h("tr", {},
      h("td", {}, t.id), h("td", {}, t.name), h("td", {}, String(t.latest_version)), h("td", {}, fmt.time(t.updated_at)),
      h("td", {}, h("button", { type: "button", onclick: () => choose(t.id) , "aria-label": `Preview ${t.name}` }, "Preview")))));
    if (!items.length) rows.append(h("tr", {}, h("td", { colspan: "5" }, "No templates yet.")));
  };

  let previewRound = 0;
  let debounce = null;
  const preview = async () => {
    if (!templateSelect.value) {
      output.replaceChildren(h("p", {}, "Choose a template."));
      return;
    }
    const round = ++previewRound;
    const body = {};
    if (subscriberSelect.value) body.subscriber_id = subscriberSelect.value;
    try {
      const values = fmt.keyValueLines(variables.value);
      body.sample = { campaign: { variables: values } };
      const result = await api.post(`/api/v1/templates/${api.segment(templateSelect.value)}/preview`, body);
      if (round === previewRound) output.replaceChildren(...renderedMessage(result));
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) report(error);
      else if (round === previewRound) output.replaceChildren(h("p", { class: "error" }, error.message));
    }
  };
  const schedulePreview = () => {
    clearTimeout(debounce);
    debounce = setTimeout(preview, 250);
  };
  const choose = (id) => {
    templateSelect.value = id;
    preview();
    templateSelect.focus();
  };
  templateSelect.addEventListener("change", schedulePreview);
  subscriberSelect.addEventListener("change", schedulePreview);
  variables.addEventListener("input", schedulePreview);

  const refreshList = async (selected) => {
    const page = await api.get(`/api/v1/templates?limit=${PAGE}`);
    fill(page.items, selected);
    choose(selected);
  };
  fill(templates.items, templates.items[0]?.id);
  view.replaceChildren(h("section", { "aria-labelledby": "view-title" },
    h("h1", { id: "view-title", tabindex: "-1" }, "Templates"),
    newTemplateForm((id) => refreshList(id).catch(report)),
    regionTable("Template list", ["ID", "Name", "Version", "Updated", "Action"], rows),
    h("section", { class: "card", "aria-labelledby": "preview-title" },
      h("h2", { id: "preview-title" }, "Live preview"),
      h("div", { class: "preview-controls" },
        field("Template", templateSelect), field("For subscriber", subscriberSelect),
        field("Campaign variables", variables, "One key=value per line, e.g. code=SNOW-26")),
      output)));
  await preview();
}

// ---- frame: log in, log out, routing -----------------------------------------------------------

const ROUTES = [
  [/^#\/campaigns\/(.+)$/, (m) => campaignView(decodeURIComponent(m[1])), "#/campaigns"],
  [/^#\/subscribers$/, subscribersView, "#/subscribers"],
  [/^#\/templates$/, templatesView, "#/templates"],
  [/^(#\/campaigns)?$/, campaignsView, "#/campaigns"],
];

function logout(message) {
  stopPolling();
  api.forgetToken();
  samples.clear();
  say("");
  render();
  if (message) document.getElementById("login-error").textContent = message;
}

async function render() {
  renderCount += 1;
  stopPolling();
  const loggedIn = api.hasToken();
  document.getElementById("login").hidden = loggedIn;
  document.getElementById("nav").hidden = !loggedIn;
  view.hidden = !loggedIn;
  if (!loggedIn) {
    view.replaceChildren();
    document.title = "Log in · Spinpost console";
    document.getElementById("login-token").focus();
    return;
  }
  const hash = location.hash;
  const [pattern, show, section] = ROUTES.find(([p]) => p.test(hash)) ?? ROUTES[ROUTES.length - 1];
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.getAttribute("href") === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  view.replaceChildren(h("p", {}, "Loading…"));
  try {
    await show(hash.match(pattern));
    const heading = document.getElementById("view-title");
    document.title = `${heading?.textContent ?? "Console"} · Spinpost console`;
    heading?.focus();
  } catch (error) {
    report(error);
    if (api.hasToken()) view.replaceChildren(h("p", { class: "error" }, `Could not load this view: ${error.message}`));
  }
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("login-token");
  const errorLine = document.getElementById("login-error");
  errorLine.textContent = "";
  api.setToken(input.value.trim());
  try {
    await api.get("/api/v1/campaigns?limit=1");
    input.value = "";
    say("Logged in.");
    render();
  } catch (error) {
    api.forgetToken();
    errorLine.textContent = error.status === 401 ? "That token was refused." : `Cannot reach the API: ${error.message}`;
  }
});
document.getElementById("logout").addEventListener("click", () => logout(""));
window.addEventListener("hashchange", render);
render();
