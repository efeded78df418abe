// The simulator page: sends what the citizen does to api/push or api/photo, shows the bot's
// replies in the chat, and polls api/inbox and api/cases for what arrived since.
"use strict";

const POLL_MS = 1500;
const $ = (selector) => document.querySelector(selector);
const openidInput = $("#openid");
let queue = Promise.resolve(); // one push at a time, so replies keep the order of sending
let textsShown = 0;
let lastNotices = "";
let lastCases = "";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // never innerHTML: texts come from users
  return node;
}

function addMessage(className, text) {
  const chat = $("#chat");
  chat.append(el("li", "msg " + className, text));
  chat.scrollTop = chat.scrollHeight;
}

async function call(url, options) {
  const resp = await fetch(url, options);
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error ? body.error.message : "HTTP " + resp.status);
  return body;
}

// `shown` is what the citizen did, as the chat shows it; `send` makes the request.
function act(shown, send) {
  addMessage("me", shown);
  queue = queue.then(async () => {
    try {
      const { reply } = await send();
      addMessage(reply ? "reply" : "reply quiet", reply || "(公众号没有回复)");
    } catch (err) {
      addMessage("error", "发送失败:" + err.message);
    }
  });
}

function push(payload) {
  const body = JSON.stringify({ openid: openidInput.value.trim(), ...payload });
  return call("api/push", { method: "POST", body, headers: { "Content-Type": "application/json" } });
}

$("#composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const content = $("#text").value;
  if (!content.trim()) return;
  $("#text").value = "";
  act(content, () => push({ type: "text", content }));
});

$("#photo").addEventListener("change", () => {
  const file = $("#photo").files[0];
  if (!file) return;
  const url = "api/photo?openid=" + encodeURIComponent(openidInput.value.trim());
  act("[照片] " + file.name, () => call(url, { method: "POST", body: file }));
  $("#photo").value = "";
});

$("#location").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const label = String(form.get("label"));
  const latitude = Number(form.get("latitude"));
  const longitude = Number(form.get("longitude"));
  act("[位置] " + label, () => push({ type: "location", label, latitude, longitude }));
});

$("#follow").addEventListener("click", () => act("[关注公众号]", () => push({ type: "subscribe" })));

document.querySelectorAll(".menu button[data-key]").forEach((button) => {
  button.addEventListener("click", () => {
    button.closest("details")?.removeAttribute("open");
    act("[菜单] " + button.textContent, () => push({ type: "click", key: button.dataset.key }));
  });
});

// 快进: the survey invitation waits for the next working day at 10:00; send it now.
$("#fast-forward").addEventListener("click", async () => {
  const result = $("#fast-forward-result");
  try {
    const { invitations } = await call("api/fast-forward", { method: "POST" });
    result.textContent = invitations
      ? "已快进:" + invitations + " 份评价邀请马上发出,几秒后出现在“收到的通知”。"
      : "没有等待发出的评价邀请。请先以工作人员身份答复并办结一件案件。";
  } catch (err) {
    result.textContent = "快进失败:" + err.message;
  }
});

// The mini-program, as its front end would call our API: wx.login, then sign in; the
// subscribe dialog's 允许, then report the results. The token is shown for curl.
const MP_API = "/api/mp/v1";
let mpToken = "";

function showMp(text) {
  $("#mp-output").textContent = text;
}

function postJson(url, data, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  return call(url, { method: "POST", body: JSON.stringify(data), headers });
}

async function mpLogin() {
  const openid = openidInput.value.trim();
  const { code } = await postJson("api/mp/login-code", { openid });
  const { token } = await postJson(MP_API + "/auth/login", { code });
  mpToken = token;
  return { openid, token };
}

$("#mp-login").addEventListener("click", async () => {
  try {
    const { openid, token } = await mpLogin();
    showMp("已登录小程序(" + openid + ")。\nTOKEN=" + token);
  } catch (err) {
    showMp("登录失败:" + err.message);
  }
});

$("#mp-subscribe").addEventListener("click", async () => {
  try {
    if (!mpToken) await mpLogin();
    const catalogue = await call(MP_API + "/catalogue", {
      headers: { Authorization: "Bearer " + mpToken },
    });
    const openid = openidInput.value.trim();
    const template_ids = catalogue.subscribe_templates;
    const { results } = await postJson("api/mp/subscribe", { openid, template_ids });
    const { remaining } = await postJson(MP_API + "/subscriptions", { results }, mpToken);
    const lines = Object.entries(remaining).map(([id, n]) => id + ":还可收 " + n + " 条");
    showMp("已允许订阅通知(每次允许,每个模板可收一条)。\n" + lines.join("\n"));
  } catch (err) {
    showMp("订阅失败:" + err.message);
  }
});

// Another citizen: start from an empty screen.
openidInput.addEventListener("change", () => {
  $("#chat").replaceChildren();
  textsShown = 0;
  lastNotices = lastCases = "";
  mpToken = "";
  showMp("");
  poll();
});

function showNotices(notices) {
  const list = $("#notices");
  list.replaceChildren();
  $("#notices-empty").hidden = notices.length > 0;
  for (const notice of [...notices].reverse()) { // newest first
    const card = el("li", "notice");
    const kind = notice.type === "template" ? "模板消息" : "订阅消息";
    card.append(el("div", "notice-title", kind + " · " + notice.template_id));
    const fields = el("dl");
    for (const [key, value] of Object.entries(notice.data)) {
      fields.append(el("dt", "", key), el("dd", "", value));
    }
    card.append(fields);
    list.append(card);
  }
}

function showCases(cases) {
  const box = $("#cases");
  box.replaceChildren();
  $("#cases-empty").hidden = cases.length > 0;
  for (const item of cases) {
    const card = el("article", "case");
    const head = el("div", "case-head");
    head.append(el("strong", "case-number", item.number), el("span", "", item.kind));
    head.append(el("span", "status", item.status));
    const timeline = el("ol", "timeline");
    for (const event of item.events) {
      const row = el("li", "event");
      row.append(el("time", "", event.at), el("span", "event-label", event.label));
      if (event.note) row.append(el("p", "event-note", event.note));
      timeline.append(row);
    }
    card.append(head, timeline);
    box.append(card);
  }
}

async function poll() {
  const openid = encodeURIComponent(openidInput.value.trim());
  try {
    const [inbox, mine] = await Promise.all([
      call("api/inbox?openid=" + openid),
      call("api/cases?openid=" + openid),
    ]);
    // Customer-service messages arrive in the chat itself, as in WeChat.
    for (const text of inbox.texts.slice(textsShown)) addMessage("service", text);
    textsShown = inbox.texts.length;
    const notices = JSON.stringify(inbox.notices);
    if (notices !== lastNotices) showNotices(inbox.notices);
    lastNotices = notices;
    const cases = JSON.stringify(mine.cases);
    if (cases !== lastCases) showCases(mine.cases);
    lastCases = cases;
  } catch (err) {
    // A bad openid or a restarting server: the next round tries again.
  }
}

poll();
setInterval(poll, POLL_MS);
