// LiveOps pages: token kept in sessionStorage (never in URLs), Chinese first with an English toggle.
"use strict";
const LO = {
  token() { return sessionStorage.getItem("liveops.token"); },
  lang() { return localStorage.getItem("liveops.lang") || "zh"; },
  t(zh, en) { return LO.lang() === "en" ? en : zh; },
  applyLang() {
    document.querySelectorAll("[data-zh]").forEach(el => { el.textContent = LO.t(el.dataset.zh, el.dataset.en); });
    document.documentElement.lang = LO.lang() === "en" ? "en" : "zh-CN";
  },
  toggleLang() { localStorage.setItem("liveops.lang", LO.lang() === "en" ? "zh" : "en"); LO.applyLang(); if (LO.onLang) LO.onLang(); },
  async api(path) {
    const r = await fetch(path, { headers: { Authorization: "Bearer " + LO.token() } });
    if (r.status === 401) { LO.askToken(LO.t("令牌无效或已吊销", "Token invalid or revoked")); throw new Error("401"); }
    return r.json();
  },
  async post(path, body) {  // {status, body}: the caller shows a refusal where it happened
    const r = await fetch(path, { method: "POST", body: JSON.stringify(body),
      headers: { Authorization: "Bearer " + LO.token(), "Content-Type": "application/json" } });
    if (r.status === 401) { LO.askToken(LO.t("令牌无效或已吊销", "Token invalid or revoked")); throw new Error("401"); }
    return { status: r.status, body: await r.json() };
  },
  askToken(msg) {
    const box = document.getElementById("login");
    box.classList.remove("hidden");
    document.getElementById("login-err").textContent = msg || "";
  },
  initLogin(onReady) {
    document.getElementById("login-form").addEventListener("submit", ev => {
      ev.preventDefault();
      const v = document.getElementById("login-token").value.trim();
      if (!v) return;
      sessionStorage.setItem("liveops.token", v);
      document.getElementById("login").classList.add("hidden");
      onReady();
    });
    document.getElementById("lang").addEventListener("click", LO.toggleLang);
    LO.applyLang();
    if (LO.token()) onReady(); else LO.askToken();
  },
  num(v, digits = 0) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return Number(v).toLocaleString("zh-CN", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  },
  money(v) { return v === null || v === undefined ? "—" : "¥" + LO.num(v, 2); },
  pct(v) { return v === null || v === undefined ? "—" : (100 * v).toFixed(2) + "%"; },
  time(iso) {
    if (!iso) return "";
    const d = new Date(iso.endsWith("Z") || iso.includes("+") ? iso : iso + "Z");
    return d.toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour12: false });
  },
};

// A fresh layout per chart: Plotly writes ranges back into the layout object it is given.
const DARK = extra => Object.assign({ paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)", font: { color: "#c7d2e4", size: 11 },
  margin: { l: 44, r: 10, t: 8, b: 30 }, xaxis: { gridcolor: "#1f2b46", nticks: 8, tickangle: 0 }, yaxis: { gridcolor: "#1f2b46" },
  showlegend: false }, extra || {});
const CFG = { displayModeBar: false, responsive: true };

function liveScreen(sessionId) {
  const $ = id => document.getElementById(id);
  let last = null, ws = null;
  const judged = new Map();  // hit_id → verdict, or {refused: message}: 人工复核 from this screen
  let mayJudge = false;  // an analyst's or admin's token: verdict buttons are shown

  const TILES = [
    ["online_now", "在线人数", "Online now", v => LO.num(v)],
    ["peak_online", "峰值在线", "Peak online", v => LO.num(v)],
    ["views", "观看人次", "Views", v => LO.num(v)],
    ["uv", "累计观众", "Viewers (UV)", v => LO.num(v)],
    ["gmv", "成交金额", "GMV", LO.money],
    ["pay_orders", "成交订单", "Paid orders", v => LO.num(v)],
    ["buyers", "成交人数", "Buyers", v => LO.num(v)],
    ["conversion_rate", "转化率", "Conversion", LO.pct],
    ["uv_value", "UV价值", "UV value", LO.money],
    ["gpm", "千次观看成交", "GPM", LO.money],
  ];
  $("tiles").innerHTML = TILES.map(([k, zh, en]) =>
    `<div class="tile"><div class="label" data-zh="${zh}" data-en="${en}">${zh}</div><div class="value" id="tile-${k}">—</div></div>`).join("");
  LO.applyLang();

  function render(s) {
    last = s;
    const m = s.metrics;
    for (const [k, , , f] of TILES) $("tile-" + k).textContent = f(m[k]);
    const st = $("status");
    st.className = "status " + (s.ended ? "ended" : "on");
    st.textContent = s.ended ? LO.t("已下播", "Ended") : LO.t("直播中", "Live");
    $("updated").textContent = LO.t("事件 ", "events ") + LO.num(s.events) + " · " + LO.time(s.end_ts || s.last_ts);
    $("explaining").innerHTML = s.explaining
      ? `${LO.t("正在讲解", "Explaining")}: <b>${s.explaining.name || s.explaining.product_id}</b> · ${LO.t("开始于", "since")} ${LO.time(s.explaining.since)}`
      : `<span class="empty">${LO.t("当前没有讲解商品", "No product being explained")}</span>`;
    const mins = s.minutes;
    const x = mins.map(r => LO.time(r.minute).slice(0, 5));
    Plotly.react("chart-online", [{ x, y: mins.map(r => r.online), type: "scatter", mode: "lines", fill: "tozeroy", line: { color: "#38bdf8" } }], DARK(), CFG);
    Plotly.react("chart-gmv", [{ x, y: mins.map(r => r.gmv), type: "bar", marker: { color: "#34d399" } }], DARK(), CFG);
    const f = [["直播间曝光", "Impressions", m.room_impressions], ["进入直播间", "Entries", m.uv],
      ["商品曝光", "Product exposure", m.product_impression_uv], ["商品点击", "Product clicks", m.product_click_uv], ["成交", "Buyers", m.buyers]];
    Plotly.react("chart-funnel", [{ type: "funnel", y: f.map(r => LO.t(r[0], r[1])), x: f.map(r => r[2] || 0),
      textinfo: "value+percent previous", marker: { color: ["#1d4ed8", "#2563eb", "#0ea5e9", "#14b8a6", "#22c55e"] } }],
      DARK({ margin: { l: 96, r: 10, t: 8, b: 20 }, yaxis: { autorange: "reversed" }, xaxis: { visible: false } }), CFG);
    $("sources").innerHTML = `<tr><th>${LO.t("来源", "Source")}</th><th>${LO.t("人次", "Views")}</th><th>UV</th><th>${LO.t("占比", "Share")}</th></tr>` +
      s.sources.map(r => `<tr><td>${LO.t(r.source_zh, r.source_en)}</td><td>${LO.num(r.views)}</td><td>${LO.num(r.uv)}</td><td>${LO.pct(r.uv_share)}</td></tr>`).join("");
    $("products").innerHTML = `<tr><th>${LO.t("商品", "Product")}</th><th>${LO.t("点击", "Clicks")}</th><th>${LO.t("成交额", "GMV")}</th></tr>` +
      (s.top_products.length ? s.top_products.map(r => `<tr><td>${r.name || r.product_id}</td><td>${LO.num(r.clicks)}</td><td>${LO.money(r.gmv)}</td></tr>`).join("")
        : `<tr><td colspan="3" class="empty">${LO.t("最近5分钟暂无商品数据", "No product activity in the last 5 minutes")}</td></tr>`);
    $("comments").innerHTML = s.comments.length ? s.comments.map(c =>
      `<li><span class="who">${c.user_id || ""}</span>${escapeHtml(c.text || "")}<span class="when">${LO.time(c.ts)}</span></li>`).join("")
      : `<li class="empty">${LO.t("暂无弹幕", "No comments yet")}</li>`;
    const al = s.alerts || [];
    $("alerts").innerHTML = al.length ? al.map(a => `<li class="${a.severity}"><span class="when">${LO.time(a.minute).slice(0, 5)}</span> ${LO.t(a.message_zh, a.message_en)}</li>`).join("")
      : `<li class="empty">${LO.t("暂无告警", "No alerts")}</li>`;
    const cp = s.compliance || { counts: [], latest: [] };
    $("compliance-counts").innerHTML = cp.counts.map(c =>
      `<span class="chip ${c.block ? "block" : "review"}">${LO.t(c.category_zh, c.category_en)} ${c.block ? LO.t("拦截 ", "block ") + c.block : ""}${c.block && c.review ? " · " : ""}${c.review ? LO.t("复核 ", "review ") + c.review : ""}</span>`).join("");
    $("compliance").innerHTML = cp.latest.length ? cp.latest.map(h =>
      `<li class="${h.severity}" data-hit="${h.hit_id}"><span class="tag">${LO.t(h.kind === "transcript" ? "口播" : "弹幕", h.kind)}</span>${markHit(h.text || "", h.start, h.end)}<span class="when">${LO.time(h.ts)}</span><div class="hint">${escapeHtml(h.suggestion || "")}</div>${verdictBox(h)}</li>`).join("")
      : `<li class="empty">${LO.t("暂无违规命中", "No compliance hits")}</li>`;
  }
  function verdictBox(h) {
    const v = h.verdict || judged.get(h.hit_id);
    if (v === "confirmed") return `<div class="verdict done">${LO.t("已确认违规", "Confirmed")}</div>`;
    if (v === "dismissed") return `<div class="verdict done">${LO.t("已判误报", "Dismissed")}</div>`;
    if (!mayJudge) return "";
    const refused = v && v.refused ? `<span class="refused">${escapeHtml(v.refused)}</span>` : "";
    return `<div class="verdict"><button data-v="confirmed">${LO.t("确认违规", "Confirm")}</button>` +
      `<button data-v="dismissed">${LO.t("误报", "Dismiss")}</button>${refused}</div>`;
  }
  $("compliance").addEventListener("click", async ev => {
    const b = ev.target.closest("button[data-v]");
    if (!b) return;
    const id = b.closest("li").dataset.hit;
    const r = await LO.post(`/v1/compliance/hits/${id}/verdict`, { verdict: b.dataset.v });
    judged.set(id, r.status === 200 ? b.dataset.v : { refused: r.body.error || String(r.status) });
    if (last) render(last);
  });
  function markHit(text, start, end) {  // start/end count code points, as Python does
    const cp = Array.from(text);
    return escapeHtml(cp.slice(0, start).join("")) + "<mark>" + escapeHtml(cp.slice(start, end).join("")) + "</mark>" + escapeHtml(cp.slice(end).join(""));
  }
  function escapeHtml(t) { return t.replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c])); }
  LO.onLang = () => { if (last) render(last); };

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    ws = new WebSocket(`${proto}://${location.host}/v1/live/${encodeURIComponent(sessionId)}`);
    ws.onopen = () => ws.send(JSON.stringify({ token: LO.token() }));
    ws.onmessage = ev => {
      const msg = JSON.parse(ev.data);
      if (msg.status === 401) { sessionStorage.removeItem("liveops.token"); LO.askToken(LO.t("令牌无效", "Invalid token")); return; }
      if (msg.status !== 200) { $("updated").textContent = msg.error; return; }
      render(msg);
    };
    ws.onclose = ev => { if (ev.code !== 1008) setTimeout(connect, 2000); };
  }
  LO.initLogin(async () => {
    mayJudge = (await LO.api("/v1/me")).can.includes("analyse");
    connect();
  });
}

function sessionsPage() {
  async function load() {
    const rows = await LO.api("/v1/sessions");
    document.getElementById("sessions").innerHTML =
      `<tr><th>${LO.t("场次", "Session")}</th><th>${LO.t("直播间", "Room")}</th><th>${LO.t("标题", "Title")}</th><th>${LO.t("开始", "Start")}</th><th>${LO.t("事件数", "Events")}</th><th></th></tr>` +
      rows.slice().reverse().map(r => `<tr><td>${r.session_id}</td><td>${r.room_id}</td><td>${r.title || ""}</td>
        <td>${(r.start_local || "").replace("T", " ").slice(0, 16)}</td><td>${LO.num(r.events)}</td>
        <td><a href="/live/${encodeURIComponent(r.session_id)}">${LO.t("大屏", "Big screen")}</a> ·
            <a href="/review/${encodeURIComponent(r.session_id)}">${LO.t("复盘", "Review")}</a></td></tr>`).join("");
  }
  LO.onLang = load;
  LO.initLogin(load);
}

function reviewPage(sessionId) {
  // The report is fetched with the token and shown in a sandboxed frame: the page itself carries no data.
  async function load() {
    const r = await fetch(`/v1/sessions/${encodeURIComponent(sessionId)}/report.html`, { headers: { Authorization: "Bearer " + LO.token() } });
    if (r.status === 401) { LO.askToken(LO.t("令牌无效或已吊销", "Token invalid or revoked")); return; }
    const frame = document.getElementById("review");
    frame.setAttribute("sandbox", "allow-scripts");
    frame.srcdoc = r.ok ? await r.text() : `<p style="font:16px sans-serif;padding:24px">${(await r.json()).error}</p>`;
  }
  LO.initLogin(load);
}

function experimentsPage() {
  // Every experiment the store knows; click one for its analysis (the same JSON as the CLI).
  let current = null;
  const fmt = (v, d = 4) => v === null || v === undefined ? "—" : Number(v).toPrecision(d);
  const pct = v => v === null || v === undefined ? "—" : (v >= 0 ? "+" : "") + (100 * v).toFixed(2) + "%";
  async function list() {
    const rows = await LO.api("/v1/experiments");
    document.getElementById("experiments").innerHTML =
      `<tr><th>${LO.t("实验", "Experiment")}</th><th>${LO.t("单元", "Unit")}</th><th>${LO.t("来源", "Source")}</th><th>${LO.t("分组", "Arms")}</th><th>${LO.t("单元数", "Units")}</th></tr>` +
      rows.map(r => `<tr class="exp-row" data-id="${encodeURIComponent(r.experiment_id)}" style="cursor:pointer"><td><a href="#">${r.experiment_id}</a></td>
        <td>${r.unit === "user" ? LO.t("观众", "viewer") : LO.t("时间片", "slice")}</td><td>${r.source}</td>
        <td>${(r.arms || []).join(" / ")}</td><td>${LO.num(r.units)}</td></tr>`).join("");
    document.querySelectorAll(".exp-row").forEach(tr => tr.addEventListener("click", ev => { ev.preventDefault(); show(decodeURIComponent(tr.dataset.id)); }));
    if (current) show(current); else if (rows.length) show(rows[0].experiment_id);
  }
  async function show(id) {
    current = id;
    const r = await LO.api(`/v1/experiments/${encodeURIComponent(id)}`);
    const table = document.getElementById("exp-result");
    if (r.error) { document.getElementById("exp-title").textContent = id; table.innerHTML = ""; document.getElementById("exp-notes").textContent = r.error; return; }
    document.getElementById("exp-title").textContent = r.experiment;
    const arms = Object.entries(r.arms).map(([a, n]) => `${a} ${LO.num(n)}`).join(" / ");
    document.getElementById("exp-meta").innerHTML =
      `${r.unit === "user" ? LO.t("按观众随机", "user-randomised") : LO.t("时间片轮换", "switchback")} · ${arms} · SRM p = ${fmt(r.srm_p, 3)}` +
      (r.srm_flag ? ` <b class="srm">${LO.t("样本比例失衡，先查分流", "sample ratio mismatch: check assignment")}</b>` : "");
    const slice = r.unit === "slice";
    table.innerHTML =
      `<tr><th>${LO.t("指标", "Metric")}</th><th>${LO.t("分组", "Arm")}</th><th>${LO.t("对照", "Control")}</th><th>${LO.t("实验", "Treatment")}</th>
       <th>${LO.t("相对提升", "Lift")}</th><th>95% CI</th><th>p</th><th>${LO.t("校正 p", "adj. p")}</th><th>${LO.t("胜率", "P(win)")}</th>
       <th>${LO.t("随时可看 p", "Always-valid p")}</th><th>${slice ? LO.t("置换 p", "Permutation p") : "CUPED"}</th></tr>` +
      r.metrics.map(m => `<tr data-metric="${m.metric}"><td>${LO.t(m.zh, m.metric)}${m.role === "primary" ? " ★" : ""}</td><td>${m.arm} vs ${m.control}</td>
        <td>${fmt(m.mean_control)}</td><td>${fmt(m.mean)}</td><td class="lift">${pct(m.lift_rel)}</td><td>[${pct(m.ci_rel_low)}, ${pct(m.ci_rel_high)}]</td>
        <td>${fmt(m.p_value, 3)}</td><td>${fmt(m.p_adjusted, 3)}</td><td>${m.chance_to_win === null ? "—" : (100 * m.chance_to_win).toFixed(0) + "%"}</td>
        <td>${fmt(m.seq_p_value, 3)}</td><td>${slice ? fmt(m.permutation_p_value, 3) : (m.cuped_variance_reduction === null ? "—" : "−" + (100 * m.cuped_variance_reduction).toFixed(1) + "%")}</td></tr>`).join("");
    document.getElementById("exp-notes").textContent = (r.notes || []).join(" ");
  }
  LO.onLang = list;
  LO.initLogin(list);
}
