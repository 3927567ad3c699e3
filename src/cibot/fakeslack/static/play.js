// The playground: renders what the bot sent (Block Kit, mrkdwn) for the person chosen, and
// sends their clicks, submissions, commands and builds through the fake (/_play/...).
// Every string from the server is escaped by esc() or mrkdwn() before it reaches innerHTML.
"use strict";

const state = { people: null, me: null, conv: null, view: null, raw: "", modalKey: "" };
const EMOJI = {
  rocket: "🚀", x: "❌", white_check_mark: "✅", hourglass_flowing_sand: "⏳", hourglass: "⌛",
  rewind: "⏪", snowflake: "❄️", sunny: "☀️", lock: "🔒", eyes: "👀", warning: "⚠️",
  no_entry_sign: "🚫", construction: "🚧", wastebasket: "🗑️", link: "🔗", bell: "🔔",
  package: "📦", house: "🏠", memo: "📝", clock1: "🕐", tada: "🎉",
};

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
  })[c]);
}

function emoji(html) {
  return html.replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] ?? all);
}

function nameOf(id) {
  return (state.people && state.people.names[id]) || id;
}

// Slack's own escapes in message text: &amp; &lt; &gt; stand for the characters.
function unslack(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function control(inner) {
  const [target, label] = inner.split("|", 2);
  if (target.startsWith("@")) return `<span class="mention">@${esc(nameOf(target.slice(1)))}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(unslack(label ?? target.slice(1)))}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(unslack(label ?? target.slice(1).split("^")[0]))}</span>`;
  const url = unslack(target);
  const text = esc(unslack(label ?? target));
  if (/^(https?:|mailto:)/i.test(url)) {
    return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${text}</a>`;
  }
  return text;
}

// Slack's mrkdwn to safe HTML: <…> sequences become placeholders, the rest is unescaped from
// Slack's entities, HTML-escaped, then formatted; the placeholders are filled in last.
function mrkdwn(source) {
  const parts = [];
  let html = String(source ?? "").replace(/<([^<>\n]+)>/g, (all, inner) => {
    parts.push(control(inner));
    return `\u0000${parts.length - 1}\u0000`;
  });
  html = esc(unslack(html));
  html = html.replace(/```([\s\S]*?)```/g, (all, code) => `<pre>${code}</pre>`);
  html = html.replace(/`([^`\n]+)`/g, (all, code) => `<code>${code}</code>`);
  html = html.replace(/(^|[\s(>\u0000])\*([^*\n]+)\*/g, "$1<b>$2</b>");
  html = html.replace(/(^|[\s(>\u0000])_([^_\n]+)_/g, "$1<i>$2</i>");
  html = html.replace(/(^|[\s(>\u0000])~([^~\n]+)~/g, "$1<s>$2</s>");
  html = emoji(html).replace(/\n/g, "<br>");
  return html.replace(/\u0000(\d+)\u0000/g, (all, i) => parts[Number(i)]);
}

function textObject(obj) {
  if (!obj) return "";
  return obj.type === "mrkdwn" ? mrkdwn(obj.text) : emoji(esc(obj.text));
}

function button(el, where, blockId) {
  const style = ["primary", "danger"].includes(el.style) ? ` ${el.style}` : "";
  return `<button class="sk${style}" data-block="${esc(blockId)}" data-action="${esc(el.action_id)}" `
    + `data-where="${esc(JSON.stringify(where))}" data-confirm="${esc(JSON.stringify(el.confirm ?? null))}">`
    + `${textObject(el.text)}</button>`;
}

function element(el, where, blockId) {
  if (el.type === "button") return button(el, where, blockId);
  if (el.type === "image") return `<span>[${esc(el.alt_text)}]</span>`;
  if (el.type === "mrkdwn" || el.type === "plain_text") return `<span>${textObject(el)}</span>`;
  return `<span>[${esc(el.type)}]</span>`;
}

function block(b, where) {
  const id = b.block_id;
  switch (b.type) {
    case "section": {
      let out = b.text ? `<div>${textObject(b.text)}</div>` : "";
      if (b.fields) out += `<div class="fields">${b.fields.map((f) => `<div>${textObject(f)}</div>`).join("")}</div>`;
      if (b.accessory) out += `<div class="actions">${element(b.accessory, where, id)}</div>`;
      return `<div class="block block-section">${out}</div>`;
    }
    case "context":
      return `<div class="block block-context">${(b.elements || []).map((e) => element(e, where, id)).join("")}</div>`;
    case "actions":
      return `<div class="block actions">${(b.elements || []).map((e) => element(e, where, id)).join("")}</div>`;
    case "header":
      return `<div class="block block-header">${textObject(b.text)}</div>`;
    case "divider":
      return `<hr class="block block-divider">`;
    case "image":
      return `<div class="block">[image: ${esc(b.alt_text)}]</div>`;
    case "input": {
      const el = b.element || {};
      const field = el.multiline
        ? `<textarea rows="4" data-block="${esc(id)}" data-action="${esc(el.action_id)}" placeholder="${esc(el.placeholder?.text)}"></textarea>`
        : `<input data-block="${esc(id)}" data-action="${esc(el.action_id)}" placeholder="${esc(el.placeholder?.text)}">`;
      const optional = b.optional ? " (optional)" : "";
      return `<div class="block"><label class="input-label">${textObject(b.label)}${esc(optional)}`
        + `${field}</label><div class="input-error" data-error-for="${esc(id)}"></div></div>`;
    }
    default:
      return `<div class="block">[unsupported block: ${esc(b.type)}]</div>`;
  }
}

function blocks(list, where, fallback) {
  if (!list || !list.length) return `<div>${mrkdwn(fallback)}</div>`;
  return list.map((b) => block(b, where)).join("");
}

function time(ts) {
  return new Date(Number(ts) * 1000).toLocaleTimeString();
}

function message(m, conv, extraClass = "") {
  const where = { channel: conv.id, ts: m.ts };
  const edited = m.edited ? ` <span class="edited">(edited)</span>` : "";
  const replies = (m.replies || []).length
    ? `<div class="replies">${m.replies.map((r) => message(r, conv, "reply")).join("")}</div>` : "";
  return `<div class="message ${extraClass}" data-ts="${esc(m.ts)}">`
    + `<span class="author">${esc(nameOf(m.user))}</span><span class="ts">${esc(time(m.ts))}</span>${edited}`
    + blocks(m.blocks, where, m.text) + replies + `</div>`;
}

function ephemeral(e) {
  return `<div class="message ephemeral" data-ts="${esc(e.ts)}"><span class="author">${esc(nameOf(state.people.bot_user_id))}</span>`
    + `<span class="only-you">Only visible to you</span>${blocks(e.blocks, null, e.text)}</div>`;
}

function renderSidebar() {
  const convs = state.view.conversations;
  document.getElementById("channels").innerHTML = convs.filter((c) => c.kind === "channel")
    .map((c) => `<li><a href="#" data-conv="${esc(c.id)}">#${esc(c.name)}</a></li>`).join("")
    || `<li class="empty">not in any channel</li>`;
  const dm = convs.find((c) => c.kind === "dm");
  document.getElementById("dm-item").innerHTML = dm
    ? `<a href="#" data-conv="${esc(dm.id)}">ci-bot · Messages</a>` : "";
  document.querySelectorAll("[data-conv]").forEach((a) => {
    a.classList.toggle("active", a.dataset.conv === state.conv);
  });
}

function renderMain() {
  const main = document.getElementById("main");
  if (state.conv === "home") {
    const home = state.view.home;
    main.innerHTML = `<div class="conv-head">ci-bot · Home</div><div class="home" id="home">`
      + (home ? blocks(home.payload.blocks, { view_id: home.id }, "")
        : `<div class="empty">ci-bot has not published a Home tab for you yet.</div>`) + `</div>`;
    return;
  }
  const conv = state.view.conversations.find((c) => c.id === state.conv) || state.view.conversations[0];
  if (!conv) { main.innerHTML = `<div class="empty">Nothing to show.</div>`; return; }
  state.conv = conv.id;
  const items = conv.messages.map((m) => ({ ts: m.ts, html: message(m, conv) }))
    .concat(state.view.ephemerals.filter((e) => e.channel === conv.id).map((e) => ({ ts: e.ts, html: ephemeral(e) })))
    .sort((a, b) => Number(a.ts) - Number(b.ts));
  const title = conv.kind === "dm" ? "ci-bot · Messages" : `#${esc(conv.name)}`;
  const box = document.getElementById("messages");
  const atBottom = !box || box.scrollTop + box.clientHeight >= box.scrollHeight - 20;
  const typed = document.getElementById("composer-input")?.value ?? "";
  main.innerHTML = `<div class="conv-head">${title}</div><div class="messages" id="messages">`
    + (items.map((i) => i.html).join("") || `<div class="empty">No messages yet.</div>`)
    + `</div><form class="composer" id="composer"><input id="composer-input" autocomplete="off" `
    + `placeholder="Message, or a command: /cibot help" aria-label="Message"><button type="submit">Send</button></form>`;
  document.getElementById("composer-input").value = typed;
  const fresh = document.getElementById("messages");
  if (atBottom) fresh.scrollTop = fresh.scrollHeight;
}

function renderModal() {
  const modal = state.view.modal;
  const box = document.getElementById("modal");
  const key = modal ? `${modal.id}:${modal.version}` : "";
  if (key === state.modalKey) return;
  state.modalKey = key;
  if (!modal) { box.hidden = true; box.innerHTML = ""; return; }
  const p = modal.payload;
  box.innerHTML = `<form class="dialog" id="modal-form" role="dialog" aria-label="${esc(p.title?.text)}">`
    + `<h3>${textObject(p.title)}</h3>${blocks(p.blocks, { view_id: modal.id }, "")}`
    + `<div class="buttons"><button type="button" class="sk" id="modal-close">${textObject(p.close || { type: "plain_text", text: "Cancel" })}</button>`
    + (p.submit ? `<button type="submit" class="sk primary" id="modal-submit">${textObject(p.submit)}</button>` : "")
    + `</div></form>`;
  box.hidden = false;
}

function render() {
  if (!state.view) return;
  renderSidebar();
  renderMain();
  renderModal();
}

function say(text, error = false) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) { say(answer.error || `${path}: HTTP ${response.status}`, true); return null; }
  if (answer.status !== undefined && !answer.ok) {
    say(`ci-bot answered ${answer.status}: ${answer.body || ""}`.slice(0, 300), true);
  } else {
    say("");
  }
  await refresh();
  return answer;
}

async function refresh() {
  if (!state.me) return;
  const response = await fetch(`/_play/view?user=${encodeURIComponent(state.me)}`);
  if (!response.ok) { say(`cannot read the fake Slack: HTTP ${response.status}`, true); return; }
  const raw = await response.text();
  if (raw === state.raw) return;
  state.raw = raw;
  state.view = JSON.parse(raw);
  render();
}

function askConfirm(confirm) {
  if (!confirm) return Promise.resolve(true);
  const box = document.getElementById("confirm");
  box.innerHTML = `<div class="dialog" role="alertdialog" aria-label="${esc(confirm.title?.text)}">`
    + `<h3>${textObject(confirm.title)}</h3><div>${textObject(confirm.text)}</div><div class="buttons">`
    + `<button class="sk" id="confirm-deny">${textObject(confirm.deny || { type: "plain_text", text: "Cancel" })}</button>`
    + `<button class="sk ${confirm.style === "danger" ? "danger" : "primary"}" id="confirm-ok">${textObject(confirm.confirm || { type: "plain_text", text: "Yes" })}</button>`
    + `</div></div>`;
  box.hidden = false;
  return new Promise((resolve) => {
    const done = (yes) => { box.hidden = true; box.innerHTML = ""; resolve(yes); };
    document.getElementById("confirm-ok").onclick = () => done(true);
    document.getElementById("confirm-deny").onclick = () => done(false);
  });
}

async function choose(person) {
  state.me = person;
  state.raw = "";
  state.modalKey = "";
  const url = new URL(location.href);
  url.searchParams.set("as", person);
  history.replaceState(null, "", url);
  await refresh();
}

function openConversation(conv) {
  state.conv = conv;
  if (conv === "home") post("/_play/home", { user: state.me }); // Slack's app_home_opened
  render();
}

document.addEventListener("click", async (event) => {
  const link = event.target.closest("[data-conv]");
  if (link) { event.preventDefault(); openConversation(link.dataset.conv); return; }
  const pressed = event.target.closest("button.sk[data-action]");
  if (pressed) {
    const ok = await askConfirm(JSON.parse(pressed.dataset.confirm));
    if (!ok) return;
    const where = JSON.parse(pressed.dataset.where);
    await post("/_play/click", {
      user: state.me, block_id: pressed.dataset.block, action_id: pressed.dataset.action, ...where,
    });
    return;
  }
  if (event.target.id === "modal-close") {
    await post("/_play/cancel", { user: state.me, view_id: state.view.modal.id });
  }
});

document.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  if (form.id === "composer") {
    const input = document.getElementById("composer-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await post("/_play/command", { user: state.me, channel: state.conv, text });
  } else if (form.id === "modal-form") {
    const values = {};
    form.querySelectorAll("[data-action]").forEach((field) => {
      if (field.tagName === "BUTTON") return;
      values[field.dataset.block] ??= {};
      values[field.dataset.block][field.dataset.action] = field.value;
    });
    const answer = await post("/_play/submit", { user: state.me, view_id: state.view.modal.id, values });
    form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
    for (const [blockId, text] of Object.entries(answer?.errors || {})) {
      const el = form.querySelector(`[data-error-for="${CSS.escape(blockId)}"]`);
      if (el) el.textContent = text;
    }
  } else if (form.id === "build-form") {
    const fields = Object.fromEntries(new FormData(form).entries());
    const answer = await post("/_play/build", fields);
    if (answer && answer.ok) say(`build sent: ci-bot answered ${answer.status} ${answer.body}`);
  }
});

async function start() {
  const response = await fetch("/_play/people");
  state.people = await response.json();
  document.getElementById("team").textContent = state.people.team;
  const select = document.getElementById("as");
  select.innerHTML = state.people.people
    .map((p) => `<option value="${esc(p.id)}">${esc(p.real_name || p.name)}</option>`).join("");
  const projects = state.people.bot ? state.people.bot.projects : [];
  document.getElementById("build-project").innerHTML = projects
    .map((p) => `<option>${esc(p)}</option>`).join("");
  if (!state.people.bot || !state.people.bot.ci) {
    document.getElementById("build-form").hidden = true;
  }
  select.addEventListener("change", () => choose(select.value));
  const wanted = new URL(location.href).searchParams.get("as");
  if (wanted && state.people.people.some((p) => p.id === wanted)) select.value = wanted;
  if (select.value) await choose(select.value);
  setInterval(refresh, 700);
}

start();
