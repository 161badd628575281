/* certa gateway web page: the explorer, a holder's records and a receipt
 * verifier that runs in the browser alone (WebCrypto SHA-256 and Ed25519),
 * checking what docs/PROTOCOL.md "Offline verification" lists, in the same
 * order and naming the same parts as `certa receipt verify`. Every
 * document comes from this gateway's /v1 API; nothing else is loaded. */
"use strict";

const TEXT = {
  zh: {
    title: "certa 授权记录账本", tab_explorer: "区块浏览", tab_holder: "持证人记录",
    tab_verify: "收据验证", height: "高度", rate: "事件/秒", view: "视图",
    validators: "验证节点", chain: "链", recent_blocks: "最近区块", time: "时间",
    events: "事件数", proposer: "提议者", hash: "哈希", block: "区块", integrator: "接入方",
    kind: "类型", pseudonym: "持证人假名", grant: "授权", result: "结果", reason: "原因",
    enter_pseudonym: "输入持证人假名（64位十六进制）", search: "查询", seq: "序号",
    matter: "事项", centre: "中心", licence_types: "证照类型", grants: "授权状态",
    status: "状态", uses: "使用次数", valid_until: "有效期至",
    verify_intro: "在浏览器中验证收据：SHA-256 与 Ed25519（WebCrypto），对照创世文件，不询问任何服务器。",
    genesis_gateway: "使用网关提供的创世文件", genesis_file: "打开本地创世文件",
    receipt_paste: "粘贴收据（JSON，每行一个），或打开收据文件：", verify: "验证",
    footer: "数据来自验证节点，经网关提供；收据可离线验证。",
    ok: "通过", rejected: "拒绝", valid: "有效", invalid: "无效", no_records: "没有记录",
    bad_pseudonym: "假名应为64位十六进制", not_found: "未找到", loading: "加载中…",
    summary: (ok, n) => `${n} 个收据中 ${ok} 个有效`, no_receipt: "没有收据",
    verified: (v) => `区块高度 ${v.height}，叶 ${v.leaf}，结果：${v.result === "ok" ? "通过" : "拒绝"}${v.proven ? "（结果已由法定多数证明）" : ""}`,
    kind_grant: "授权", kind_redeem: "核验", kind_confirm: "确认", kind_sign: "签名",
    kind_photo: "拍照", kind_revoke: "撤销",
    st_active: "有效", st_not_yet_valid: "未生效", st_expired: "已过期",
    st_exhausted: "已用完", st_locked: "已锁定", st_revoked: "已撤销",
    lang_switch: "English",
  },
  en: {
    title: "certa authorization ledger", tab_explorer: "Explorer", tab_holder: "Holder records",
    tab_verify: "Verify a receipt", height: "Height", rate: "Events/s", view: "View",
    validators: "Validators", chain: "Chain", recent_blocks: "Recent blocks", time: "Time",
    events: "Events", proposer: "Proposer", hash: "Hash", block: "Block",
    integrator: "Integrator", kind: "Kind", pseudonym: "Holder pseudonym", grant: "Grant",
    result: "Result", reason: "Reason",
    enter_pseudonym: "Enter a holder pseudonym (64 hex digits)", search: "Search",
    seq: "Seq", matter: "Matter", centre: "Centre", licence_types: "Licence types",
    grants: "Grant status", status: "Status", uses: "Uses", valid_until: "Valid until",
    verify_intro: "Verify receipts in this browser: SHA-256 and Ed25519 (WebCrypto) against the genesis, asking no server.",
    genesis_gateway: "Use the genesis this gateway serves", genesis_file: "Open a genesis file",
    receipt_paste: "Paste receipts (JSON, one per line), or open a receipts file:",
    verify: "Verify", footer: "Data from the validators, served by the gateway; receipts verify offline.",
    ok: "ok", rejected: "rejected", valid: "valid", invalid: "invalid", no_records: "No records",
    bad_pseudonym: "A pseudonym is 64 hex digits", not_found: "Not found", loading: "Loading…",
    summary: (ok, n) => `${ok} of ${n} receipts valid`, no_receipt: "No receipt",
    verified: (v) => `height ${v.height}, leaf ${v.leaf}, result ${v.result}${v.proven ? " (result proven by a quorum)" : ""}`,
    kind_grant: "grant", kind_redeem: "redeem", kind_confirm: "confirm", kind_sign: "sign",
    kind_photo: "photo", kind_revoke: "revoke",
    st_active: "active", st_not_yet_valid: "not yet valid", st_expired: "expired",
    st_exhausted: "exhausted", st_locked: "locked", st_revoked: "revoked",
    lang_switch: "中文",
  },
};
let lang = localStorage.getItem("certa.lang") === "en" ? "en" : "zh";
const t = (k) => (TEXT[lang][k] !== undefined ? TEXT[lang][k] : k);
const $ = (id) => document.getElementById(id);

function applyLang() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("lang").textContent = t("lang_switch");
  document.title = t("title");
  rerender();
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
const fmtTime = (ms) => new Date(ms).toLocaleString(lang === "zh" ? "zh-CN" : "en-GB");
const short = (hex) => (hex ? hex.slice(0, 12) + "…" : "");

async function getJSON(path) {
  const r = await fetch(path, { cache: "no-cache" });
  if (!r.ok) {
    const e = new Error(r.status === 404 ? t("not_found") : "HTTP " + r.status);
    e.status = r.status;
    throw e;
  }
  return r.json();
}

/* ---- explorer ---- */
const samples = []; /* events_per_s, one per second, the last 90 */
const blockCache = new Map();
let lastStatus = null, shownBlock = null, blockRows = [];

function drawChart() {
  const c = $("chart"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  const max = Math.max(1, ...samples);
  g.strokeStyle = "#d9dde4";
  g.beginPath(); g.moveTo(0, c.height - 20.5); g.lineTo(c.width, c.height - 20.5); g.stroke();
  g.fillStyle = "#5b6577"; g.font = "12px sans-serif";
  g.fillText(t("rate") + " " + max.toFixed(0), 6, 14);
  g.strokeStyle = "#1f6feb"; g.lineWidth = 2; g.beginPath();
  samples.forEach((v, i) => {
    const x = (c.width * i) / 89, y = c.height - 20 - ((c.height - 40) * v) / max;
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
}

async function block(h) {
  if (blockCache.has(h)) return blockCache.get(h);
  const b = await getJSON("/v1/blocks/" + h + "?limit=50");
  if (blockCache.size > 200) blockCache.delete(blockCache.keys().next().value);
  blockCache.set(h, b);
  return b;
}

async function renderBlocks() {
  if (!lastStatus) return;
  const tb = $("blocks").tBodies[0], rows = [];
  for (let h = lastStatus.height; h >= 1 && h > lastStatus.height - 10; h--) {
    try { rows.push(await block(h)); } catch (e) { /* not yet executed where asked */ }
  }
  tb.replaceChildren();
  for (const b of rows) {
    const tr = document.createElement("tr");
    tr.className = "click";
    tr.dataset.height = b.height;
    cell(tr, b.height); cell(tr, fmtTime(b.header.timestamp_ms)); cell(tr, b.header.event_count);
    cell(tr, b.header.proposer); cell(tr, short(b.hash), "mono");
    tr.addEventListener("click", () => showBlock(b.height));
    tb.appendChild(tr);
  }
}

async function tick() {
  try {
    const s = await getJSON("/v1/status");
    lastStatus = s;
    $("height").textContent = s.height;
    $("rate").textContent = Number(s.events_per_s).toFixed(1);
    $("view").textContent = s.view;
    $("validators").textContent = s.n;
    $("chain").textContent = s.chain_name;
    samples.push(Number(s.events_per_s));
    if (samples.length > 90) samples.shift();
    drawChart();
    await renderBlocks();
  } catch (e) {
    $("rate").textContent = "-";
  }
}

/* A block's results are not in the block: they are in each grant's
 * history, the record whose kind and time are the event's. */
async function showBlock(h) {
  const b = await block(h);
  shownBlock = b;
  const grants = new Map();
  for (const e of b.events) {
    const gid = e.event && e.event.grant_id;
    if (gid && !grants.has(gid)) {
      try { grants.set(gid, await getJSON("/v1/grants/" + gid + "?limit=1000")); }
      catch (err) { grants.set(gid, null); }
    }
  }
  blockRows = b.events.map((e) => {
    const ev = e.event || {}, g = grants.get(ev.grant_id);
    const rec = g && g.history.find((r) => r.kind === ev.kind && r.time_ms === b.header.timestamp_ms);
    return { index: e.index, integrator: e.integrator, kind: ev.kind,
             holder: ev.holder_id || (g && g.holder_id) || "", grant: ev.grant_id || "",
             result: rec ? rec.result : "", reason: rec && rec.reason ? rec.reason : "" };
  });
  renderBlock();
}

function renderBlock() {
  if (!shownBlock) return;
  $("block").hidden = false;
  $("block_height").textContent = shownBlock.height;
  $("block_hash").textContent = t("hash") + " " + shownBlock.hash;
  const tb = $("block_events").tBodies[0];
  tb.replaceChildren();
  for (const r of blockRows) {
    const tr = document.createElement("tr");
    cell(tr, r.index); cell(tr, r.integrator); cell(tr, t("kind_" + r.kind));
    cell(tr, short(r.holder), "mono").title = r.holder;
    cell(tr, short(r.grant), "mono").title = r.grant;
    cell(tr, r.result ? t(r.result) : "-", r.result === "ok" ? "ok" : r.result ? "bad" : "");
    cell(tr, r.reason);
    tb.appendChild(tr);
  }
}

/* ---- holder ---- */
let holderDoc = null;

async function showHolder(ev) {
  ev.preventDefault();
  const id = $("holder_id").value.trim().toLowerCase();
  holderDoc = null;
  $("records").hidden = $("grants").hidden = $("grants_title").hidden = true;
  if (!/^[0-9a-f]{64}$/.test(id)) { $("holder_msg").textContent = t("bad_pseudonym"); return; }
  $("holder_msg").textContent = t("loading");
  try {
    let records = [], cursor = null;
    do { /* every page, as certa query holder gives them */
      const d = await getJSON("/v1/holders/" + id + "?limit=1000" + (cursor !== null ? "&cursor=" + cursor : ""));
      records = records.concat(d.records);
      cursor = d.next_cursor !== undefined ? d.next_cursor : null;
    } while (cursor !== null);
    const grants = [];
    for (const gid of [...new Set(records.filter((r) => r.grant_id).map((r) => r.grant_id))]) {
      try { grants.push(await getJSON("/v1/grants/" + gid + "?limit=1")); } catch (e) { /* gone */ }
    }
    holderDoc = { id, records, grants };
    $("holder_msg").textContent = "";
  } catch (e) {
    $("holder_msg").textContent = e.message;
  }
  renderHolder();
}

function renderHolder() {
  if (!holderDoc) return;
  if (holderDoc.records.length === 0) { $("holder_msg").textContent = t("no_records"); return; }
  const tb = $("records").tBodies[0];
  tb.replaceChildren();
  for (const r of holderDoc.records) {
    const tr = document.createElement("tr");
    tr.dataset.seq = r.seq;
    cell(tr, r.seq); cell(tr, fmtTime(r.time_ms)); cell(tr, t("kind_" + r.kind));
    cell(tr, r.matter); cell(tr, r.centre); cell(tr, (r.licence_types || []).join(", "));
    cell(tr, short(r.grant_id), "mono").title = r.grant_id || "";
    cell(tr, t(r.result), r.result === "ok" ? "ok" : "bad"); cell(tr, r.reason || "");
    tb.appendChild(tr);
  }
  const gb = $("grants").tBodies[0];
  gb.replaceChildren();
  for (const g of holderDoc.grants) {
    const tr = document.createElement("tr");
    tr.dataset.grant = g.grant_id;
    cell(tr, g.grant_id, "mono"); cell(tr, t("st_" + g.status)); cell(tr, g.matter);
    cell(tr, g.uses + " / " + g.max_uses); cell(tr, fmtTime(g.not_after_ms));
    gb.appendChild(tr);
  }
  $("records").hidden = $("grants").hidden = $("grants_title").hidden = false;
}

/* ---- receipt verification, in the browser ---- */
const enc = new TextEncoder();
function unhex(s, bytes, what) {
  if (typeof s !== "string" || !/^[0-9a-fA-F]*$/.test(s) || (bytes && s.length !== 2 * bytes))
    throw new Error("json: field \"" + what + "\": expected " + (bytes ? 2 * bytes : "") + " hex digits");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}
const hexOf = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));
function cat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
function u64le(v) { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); return b; }
function u16le(v) { const b = new Uint8Array(2); new DataView(b.buffer).setUint16(0, v, true); return b; }

/* RFC 9162 2.1.3.2: does path lead from leaf hash `leaf` (index i of n) to root? */
async function inclusionOk(i, n, leaf, path, root) {
  if (i >= n) return false;
  let fn = i, sn = n - 1, r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(cat(Uint8Array.of(1), p, r));
      while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
    } else {
      r = await sha256(cat(Uint8Array.of(1), r, p));
    }
    fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(r, root);
}

const FIELDS = ["receipt", "integrator", "seq", "result", "code", "reason", "height",
                "leaf_index", "event", "header", "proof", "commit"];
const LAG = 4; /* header h + 4 commits block h's results root */

/* Throws Error(part + ": why") unless c is a quorum's certificate of header. */
async function checkCert(c, header, gen, part) {
  const height = Number(new DataView(header.buffer).getBigUint64(8, true)), blockHash = await sha256(header);
  if (typeof c !== "object" || c === null || !Array.isArray(c.signatures)) throw new Error(part + ": not a certificate");
  if (c.height !== height) throw new Error(part + ": certificate for height " + c.height + ", header " + height);
  if (hexOf(blockHash) !== String(c.block_hash).toLowerCase()) throw new Error(part + ": certificate for another block hash");
  const n = gen.doc.validators.length, f = Math.floor((n - 1) / 3);
  if (c.signatures.length < 2 * f + 1) throw new Error(part + ": " + c.signatures.length + " signatures, a quorum is " + (2 * f + 1));
  let last = -1;
  for (const s of c.signatures) {
    const v = s.validator;
    if (!Number.isInteger(v) || v <= last || v >= n) throw new Error(part + ": validators not distinct genesis validators in increasing order");
    last = v;
    const key = await crypto.subtle.importKey("raw", unhex(gen.doc.validators[v].sign_pub, 32, "sign_pub"), { name: "Ed25519" }, false, ["verify"]);
    const msg = cat(gen.chainId, Uint8Array.of(1, 4), u16le(v), u64le(c.view), u64le(height), blockHash);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, unhex(s.signature, 64, "signature"), msg);
    if (!ok) throw new Error(part + ": signature of validator " + v + " (" + gen.doc.validators[v].name + ") does not verify");
  }
}

/* The result proof of a version 2 receipt (docs/PROTOCOL.md "Receipts"). */
async function checkResultProof(rc, height, eventCount, event, gen) {
  const rp = rc.result_proof;
  if (typeof rp !== "object" || rp === null || !Array.isArray(rp.path)) throw new Error("json: field \"result_proof\" is not an object with a path");
  const later = unhex(rp.header, 168, "result_proof.header"), dv = new DataView(later.buffer);
  if (dv.getUint32(0, true) !== 0x48545243 || later[4] !== 1) throw new Error("result proof: header: not a version 1 block header");
  const h2 = Number(dv.getBigUint64(8, true));
  if (h2 !== height + LAG) throw new Error("result proof: header: height " + h2 + ", the results of block " + height + " are committed at " + (height + LAG));
  await checkCert(rp.commit, later, gen, "result proof: commit");
  /* leaf = u8 result || u8 kind (the event's byte 1; 0 for replayed and too_old) */
  if (!Number.isInteger(rc.code) || rc.code < 0 || rc.code > 255) throw new Error("result proof: path: result code " + rc.code + " has no result leaf");
  const kind = rc.code === 18 || rc.code === 19 ? 0 : event[1];
  const leaf = await sha256(Uint8Array.of(0, rc.code, kind));
  const path = rp.path.map((p, i) => unhex(p, 32, "result_proof.path[" + i + "]"));
  if (!(await inclusionOk(rc.leaf_index, eventCount, leaf, path, later.slice(104, 136))))
    throw new Error("result proof: path: result " + rc.code + " is not leaf " + rc.leaf_index + " of the results root of block " + height);
}

/* Throws Error("PART: why") at the first failing check. */
async function verifyReceipt(rc, gen) {
  if (typeof rc !== "object" || rc === null || Array.isArray(rc)) throw new Error("json: not an object");
  for (const k of FIELDS) if (!(k in rc)) throw new Error("json: field \"" + k + "\" missing");
  for (const k of Object.keys(rc)) if (!FIELDS.includes(k) && !(k === "result_proof" && rc.receipt === 2)) throw new Error("json: field \"" + k + "\" unknown");
  if (rc.receipt !== 1 && rc.receipt !== 2) throw new Error("json: field \"receipt\": version " + rc.receipt + ", not 1 or 2");
  if (rc.receipt === 2 && !("result_proof" in rc)) throw new Error("json: field \"result_proof\" missing");
  const header = unhex(rc.header, 168, "header"), event = unhex(rc.event, 0, "event");
  const proof = rc.proof.map((p, i) => unhex(p, 32, "proof[" + i + "]"));
  const dv = new DataView(header.buffer);
  if (dv.getUint32(0, true) !== 0x48545243 || header[4] !== 1) throw new Error("header: not a version 1 block header");
  const height = Number(dv.getBigUint64(8, true)), eventCount = dv.getUint32(32, true);
  if (height !== rc.height) throw new Error("header: height " + height + ", the receipt says " + rc.height);
  if (event.length < 1 || event.length > 1024) throw new Error("event: " + event.length + " bytes, not 1..1024");
  if (!Number.isInteger(rc.integrator) || rc.integrator >= gen.doc.integrators.length)
    throw new Error("integrator: " + rc.integrator + " is not in genesis");
  await checkCert(rc.commit, header, gen, "commit");
  const leaf = await sha256(cat(Uint8Array.of(0), u16le(rc.integrator), u64le(rc.seq), event));
  if (!(await inclusionOk(rc.leaf_index, eventCount, leaf, proof, header.slice(72, 104))))
    throw new Error("proof: the path does not prove leaf " + rc.leaf_index + " in events_root");
  if ((rc.result === "ok") !== (rc.code === 0) || (rc.result === "ok" && rc.reason !== ""))
    throw new Error("result: \"" + rc.result + "\" with code " + rc.code + " and reason \"" + rc.reason + "\"");
  if (rc.receipt === 2) await checkResultProof(rc, height, eventCount, event, gen);
  return { height, leaf: rc.leaf_index, result: rc.result, proven: rc.receipt === 2 };
}

async function genesisBytes() {
  const src = document.querySelector("input[name=gsrc]:checked").value;
  if (src === "file") {
    const f = $("genesis_file").files[0];
    if (!f) throw new Error("genesis: " + t("genesis_file"));
    return new Uint8Array(await f.arrayBuffer());
  }
  const r = await fetch("/v1/genesis");
  if (!r.ok) throw new Error("genesis: HTTP " + r.status);
  return new Uint8Array(await r.arrayBuffer());
}

/* Receipts from text: JSON Lines, one array, or a batch's status document. */
function receiptsOf(text) {
  const s = text.trim();
  if (s === "") return [];
  try {
    const d = JSON.parse(s);
    if (Array.isArray(d)) return d;
    if (d && Array.isArray(d.receipts)) return d.receipts;
    return [d];
  } catch (e) {
    return s.split("\n").filter((l) => l.trim() !== "").map((l) => {
      try { return JSON.parse(l); } catch (err) { return { __bad: err.message }; }
    });
  }
}

let verdicts = null;
async function runVerify() {
  verdicts = null;
  $("verify_summary").textContent = t("loading");
  $("verify_results").replaceChildren();
  const out = [];
  try {
    const bytes = await genesisBytes();
    const gen = { doc: JSON.parse(new TextDecoder().decode(bytes)), chainId: await sha256(bytes) };
    for (const rc of receiptsOf($("receipt_text").value)) {
      try {
        if (rc && rc.__bad) throw new Error("json: " + rc.__bad);
        const v = await verifyReceipt(rc, gen);
        out.push({ ok: true, v });
      } catch (e) {
        out.push({ ok: false, text: e.message });
      }
    }
  } catch (e) {
    out.push({ ok: false, text: e.message });
  }
  verdicts = out;
  renderVerdicts();
}

function renderVerdicts() {
  if (!verdicts) return;
  const ol = $("verify_results");
  ol.replaceChildren();
  for (const v of verdicts) {
    const li = document.createElement("li");
    const b = document.createElement("span");
    b.className = v.ok ? "ok" : "bad";
    b.textContent = t(v.ok ? "valid" : "invalid");
    li.dataset.valid = v.ok ? "1" : "0";
    li.append(b, " ", v.ok ? t("verified")(v.v) : v.text);
    ol.appendChild(li);
  }
  const ok = verdicts.filter((v) => v.ok).length;
  $("verify_summary").textContent = verdicts.length ? t("summary")(ok, verdicts.length) : t("no_receipt");
}

/* ---- the page ---- */
function rerender() {
  renderBlock(); renderHolder(); renderVerdicts(); drawChart();
  if (lastStatus) renderBlocks();
}

function showTab(name) {
  for (const p of document.querySelectorAll(".page")) p.hidden = p.id !== name;
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === name);
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("certa.lang", lang);
    applyLang();
  });
  $("holder_form").addEventListener("submit", showHolder);
  $("verify_btn").addEventListener("click", runVerify);
  $("receipt_file").addEventListener("change", async () => {
    const f = $("receipt_file").files[0];
    if (f) $("receipt_text").value = await f.text();
  });
  const fromHash = () => {
    const h = location.hash.slice(1);
    showTab(["explorer", "holder", "verify"].includes(h) ? h : "explorer");
  };
  window.addEventListener("hashchange", fromHash);
  fromHash();
  applyLang();
  tick();
  setInterval(tick, 1000);
});
