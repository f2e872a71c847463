// The gate scanner. The form is sent by fetch and the server's answer replaces the last one.
// When the server cannot be reached, the pass is checked here with the port's public key and
// the slot window, the scan is kept in localStorage, and sent when the connection is back.
// Every word shown comes translated from the page (#gate-config).

const config = JSON.parse(document.getElementById("gate-config").textContent);
const words = config.strings;
const form = document.getElementById("scan-form");
const wedge = form.elements.text;
const codeField = form.elements.code;
const plateField = form.elements.plate;
const resultBox = document.getElementById("gate-result");
const networkNote = document.getElementById("gate-network");
const queueNote = document.getElementById("gate-queue");
const queueKey = `landport.gate.queue.${config.user}`;
const usedKey = `landport.gate.used.${config.user}`;
const MINUTE = 60000;

// --- small helpers

function newNonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function csrfToken() {
  // The cookie first: a page opened from the offline cache may carry an old token.
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : form.elements.csrfmiddlewaretoken.value;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatTime(ms) {
  return new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    timeZone: config.timeZone,
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  }).format(new Date(ms));
}

// --- the answer on screen

function clearFields() {
  wedge.value = "";
  codeField.value = "";
  if (plateField) plateField.value = "";
}

function ready() {
  wedge.focus({ preventScroll: true });
}

function bindResult() {
  const next = resultBox.querySelector("[data-dismiss]");
  if (next) {
    next.addEventListener("click", (event) => {
      event.preventDefault();
      resultBox.hidden = true;
      resultBox.replaceChildren();
      ready();
    });
  }
}

function showHtml(html) {
  resultBox.innerHTML = html; // the server's own fragment
  resultBox.hidden = false;
  bindResult();
  ready();
}

function showLocal(kind, word, lines, facts) {
  const section = element("section", `verdict ${kind} offline`);
  section.setAttribute("role", "alert");
  section.dataset.result = kind;
  section.append(element("p", "word", word));
  for (const line of lines) section.append(element("p", line.className || "why", line.text));
  if (facts.length) {
    const list = element("dl", "facts");
    for (const [term, value] of facts) list.append(element("dt", "", term), element("dd", "", value));
    section.append(list);
  }
  const next = element("a", "button secondary next", words.next);
  next.href = config.scope;
  next.dataset.dismiss = "";
  section.append(next);
  resultBox.replaceChildren(section);
  resultBox.hidden = false;
  bindResult();
  ready();
}

function showPending() {
  networkNote.hidden = true;
  resultBox.hidden = true;
}

function setOnline(online) {
  networkNote.textContent = words.offline;
  networkNote.hidden = online;
}

// --- checking a pass on this device

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text) {
    const index = ALPHABET.indexOf(ch);
    if (index < 0) return null;
    value = ((value << 5) | index) & 0x1fff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}

function fromBase64(text) {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

let subtleEd25519 = null; // unknown until tried

async function signatureValid(key, signature, body) {
  if (subtleEd25519 !== false) {
    try {
      const imported = await crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]);
      subtleEd25519 = true;
      return await crypto.subtle.verify({ name: "Ed25519" }, imported, signature, body);
    } catch (error) {
      if (subtleEd25519) return false;
      subtleEd25519 = false; // this browser has no Ed25519 in WebCrypto: the npm fallback
    }
  }
  try {
    const ed = await import(config.vendor.noble);
    return await ed.verifyAsync(signature, body, key, { zip215: false });
  } catch (error) {
    return false;
  }
}

function usedHere() {
  try {
    return JSON.parse(localStorage.getItem(usedKey)) || {};
  } catch (error) {
    return {};
  }
}

function markUsed(passNonce, until) {
  const used = usedHere();
  const now = Date.now();
  for (const [nonce, expires] of Object.entries(used)) if (expires < now) delete used[nonce];
  used[passNonce] = until;
  localStorage.setItem(usedKey, JSON.stringify(used));
}

// The layout of passes.py: version, port, booking, slot start and end (minutes), nonce, signature.
async function checkHere(token) {
  const raw = base32(token);
  if (!raw || raw.length !== 88 || raw[0] !== 1) return { reason: "not_a_pass" };
  const port = String.fromCharCode(raw[1], raw[2], raw[3]);
  if (!/^[A-Za-z]{3}$/.test(port)) return { reason: "not_a_pass" };
  const view = new DataView(raw.buffer);
  const claims = {
    port,
    booking: view.getUint32(4),
    from: view.getUint32(8) * MINUTE,
    until: view.getUint32(12) * MINUTE,
    nonce: Array.from(raw.slice(16, 24), (x) => x.toString(16).padStart(2, "0")).join(""),
  };
  if (port.toUpperCase() !== config.port) return { reason: "other_port", claims };
  const key = config.keys[config.port];
  if (!(await signatureValid(fromBase64(key), raw.slice(24), raw.slice(0, 24)))) {
    return { reason: "bad_signature" };
  }
  if (usedHere()[claims.nonce]) return { reason: "already_used", claims };
  const now = Date.now();
  if (now < claims.from - config.earlyMinutes * MINUTE) return { reason: "too_early", claims };
  if (now > claims.until + config.lateMinutes * MINUTE) return { reason: "too_late", claims };
  return { reason: "", claims };
}

async function scanHere(text, nonce) {
  const token = text.replace(/\s+/g, "").toUpperCase().split("/").filter(Boolean).pop() || "";
  if (token.length !== config.tokenLength) {
    // A short code names a pass in the server's database: nothing to check here.
    showLocal("unchecked", words.cannotCheck, [{ text: words.codeOffline }], []);
    return;
  }
  const verdict = await checkHere(token);
  const admitted = !verdict.reason;
  if (admitted) markUsed(verdict.claims.nonce, verdict.claims.until + config.lateMinutes * MINUTE);
  keep({
    port: config.port,
    client_nonce: nonce,
    token,
    scanned_at: new Date().toISOString(),
    offline_result: admitted ? "admit" : "refuse",
    reason: verdict.reason,
  });
  const lines = [];
  if (!admitted) lines.push({ text: words.reasons[verdict.reason] || verdict.reason });
  lines.push({ text: words.offlineNote, className: "note" });
  const facts = [];
  if (verdict.claims && verdict.reason !== "other_port") {
    facts.push([words.booking, `#${verdict.claims.booking}`]);
    facts.push([words.slot, `${formatTime(verdict.claims.from)} – ${formatTime(verdict.claims.until)}`]);
  }
  showLocal(admitted ? "admit" : "refuse", admitted ? words.admitOffline : words.refuseOffline, lines, facts);
}

// --- the scans kept while offline

function kept() {
  try {
    return JSON.parse(localStorage.getItem(queueKey)) || [];
  } catch (error) {
    return [];
  }
}

function saveKept(scans) {
  localStorage.setItem(queueKey, JSON.stringify(scans));
  queueNote.textContent = words.queued.replace("%(count)s", String(scans.length));
  queueNote.hidden = scans.length === 0;
}

function keep(scan) {
  saveKept([...kept(), scan]);
  setTimeout(send, 1000);
}

let sending = false;

async function send() {
  if (sending || !navigator.onLine || kept().length === 0) return;
  sending = true;
  try {
    const byPort = new Map();
    for (const scan of kept()) {
      if (!byPort.has(scan.port)) byPort.set(scan.port, []);
      byPort.get(scan.port).push(scan);
    }
    for (const [port, scans] of byPort) {
      for (let start = 0; start < scans.length; start += 100) {
        const batch = scans.slice(start, start + 100).map(({ port: _port, ...scan }) => scan);
        const response = await fetch(config.syncUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
          body: JSON.stringify({ port, scans: batch }),
          signal: AbortSignal.timeout(20000),
        });
        if (response.status === 401 || response.status === 403) {
          queueNote.textContent = words.signInToSend;
          queueNote.hidden = false;
          return;
        }
        if (!response.ok) return; // tried again later
        const done = new Set((await response.json()).results.map((r) => r.client_nonce));
        saveKept(kept().filter((scan) => !done.has(scan.client_nonce)));
      }
    }
    setOnline(true);
  } catch (error) {
    // Still no connection: the timer and the "online" event try again.
  } finally {
    sending = false;
  }
}

// --- a scan: the form, from the keyboard-wedge field, the code field or the camera

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = wedge.value.trim();
  const code = codeField.value.trim();
  if (!text && !code) return ready();
  const nonce = newNonce();
  const body = new FormData(form);
  body.set("client_nonce", nonce);
  clearFields();
  showPending();
  let response = null;
  if (navigator.onLine) {
    try {
      response = await fetch(form.action, {
        method: "POST",
        body,
        credentials: "same-origin",
        headers: { "X-Gate-Fragment": "1", "X-CSRFToken": csrfToken() },
        signal: AbortSignal.timeout(config.timeoutMs),
      });
    } catch (error) {
      response = null;
    }
  }
  if (response && response.ok && response.headers.get("X-Gate-Result")) {
    setOnline(true);
    showHtml(await response.text());
    send();
    return;
  }
  if (response && response.redirected) {
    window.location.assign(response.url); // signed out, or two-factor authentication to set up
    return;
  }
  if (response && response.status === 403) {
    showLocal("unchecked", words.cannotCheck, [{ text: words.forbidden }], []);
    return;
  }
  if (response && response.status < 500) {
    window.location.assign(config.scope);
    return;
  }
  setOnline(false);
  await scanHere(text || code, nonce);
});

const cameraButton = document.getElementById("camera-start");
const video = document.getElementById("camera-video");
let stream = null;
let detector = null;
let canvas = null;
let lastSeen = { text: "", at: 0 };

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = element("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = reject;
    document.head.append(script);
  });
}

function stopCamera() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  video.hidden = true;
  cameraButton.textContent = words.cameraStart;
}

async function readFrame() {
  if (detector) {
    const codes = await detector.detect(video);
    return codes.length ? codes[0].rawValue : null;
  }
  if (!window.jsQR || !video.videoWidth) return null;
  canvas = canvas || element("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(video, 0, 0);
  const image = context.getImageData(0, 0, canvas.width, canvas.height);
  const found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
  return found ? found.data : null;
}

async function watch() {
  if (!stream) return;
  let text = null;
  try {
    text = await readFrame();
  } catch (error) {
    text = null;
  }
  // The same code in front of the camera is sent once, not four times a second.
  if (text && (text !== lastSeen.text || Date.now() - lastSeen.at > 5000) && resultBox.hidden) {
    lastSeen = { text, at: Date.now() };
    wedge.value = text;
    form.requestSubmit();
  }
  setTimeout(watch, 250);
}

if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  cameraButton.hidden = false;
  cameraButton.addEventListener("click", async () => {
    if (stream) return stopCamera();
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (error) {
      showLocal("unchecked", words.cannotCheck, [{ text: words.cameraDenied }], []);
      return;
    }
    video.srcObject = stream;
    video.hidden = false;
    cameraButton.textContent = words.cameraStop;
    await video.play();
    if (!detector && "BarcodeDetector" in window) {
      try {
        if ((await window.BarcodeDetector.getSupportedFormats()).includes("qr_code")) {
          detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        }
      } catch (error) {
        detector = null;
      }
    }
    if (!detector && !window.jsQR) await loadScript(config.vendor.jsqr);
    watch();
  });
}

// --- start

bindResult();
saveKept(kept());
setOnline(navigator.onLine);
window.addEventListener("online", () => {
  setOnline(true);
  send();
});
window.addEventListener("offline", () => setOnline(false));
setInterval(send, 30000);
send();
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register(config.serviceWorker, { scope: config.scope }).catch(() => null);
}
