#!/usr/bin/env python3
"""Drives headless Chromium (the DevTools protocol over --remote-debugging-pipe,
python3's standard library only) against a running certa gateway's web page
and checks what a person would see:
  - the explorer shows committed blocks (heights up to the chain's), a
    block's events with their pseudonyms and results, and the events/s
    figure moves while load runs;
  - the language switch turns the Chinese page English and back;
  - the holder page lists exactly the records `certa query holder` printed
    (HOLDER_JSON), and one grant status row per grant of them;
  - the in-browser verifier accepts a real receipt (RECEIPT_LINE) and
    rejects the same receipt with one byte flipped (in a signature: part
    "commit"; in the event: part "proof");
  - no request leaves the gateway's origin, and the page throws nothing.
Screenshots go to OUT_DIR (explorer.png, holder.png, verify.png).
usage: browser_check.py BASE_URL HOLDER_JSON RECEIPT_LINE_FILE OUT_DIR"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time

CHROMIUM = os.environ.get("CERTA_CHROMIUM", "/usr/bin/chromium")
base, holder_json, receipt_file, out_dir = sys.argv[1:5]
holder = json.load(open(holder_json))
receipt = open(receipt_file).read().strip()
fails = 0


def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        fails += 1


class Browser:
    """One page of a headless Chromium, spoken to over the pipe (fd 3 in, fd 4 out:
    JSON messages ended by NUL)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="certa-chromium-")
        to_r, to_w = os.pipe()    # we write commands, it reads on fd 3
        from_r, from_w = os.pipe()  # it writes on fd 4, we read
        args = [CHROMIUM, "--headless=new", "--remote-debugging-pipe", "--no-sandbox",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--user-data-dir=" + self.profile, "--lang=zh-CN", "about:blank"]

        def fds():  # in the child: fds 3 and 4, whatever numbers the pipes got
            a, b = os.dup(to_r), os.dup(from_w)
            os.dup2(a, 3)
            os.dup2(b, 4)
        self.proc = subprocess.Popen(args, preexec_fn=fds, pass_fds=(),
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(out_dir, "chromium.log"), "w"),
                                     close_fds=False)
        os.close(to_r)
        os.close(from_w)
        self.w = os.fdopen(to_w, "wb", buffering=0)
        self.r = os.fdopen(from_r, "rb", buffering=0)
        self.buf = b""
        self.next_id = 0
        self.events = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]
        for m in ("Page.enable", "Runtime.enable", "Network.enable"):
            self.call(m, session=True)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1100, "height": 760, "deviceScaleFactor": 1, "mobile": False},
                  session=True)

    def _read(self):
        while b"\0" not in self.buf:
            chunk = self.r.read(65536)
            if not chunk:
                raise RuntimeError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False, timeout_s=30):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            m["sessionId"] = self.session
        self.w.write(json.dumps(m).encode() + b"\0")
        end = time.time() + timeout_s
        while time.time() < end:
            msg = self._read()
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg["result"]
            self.events.append(msg)
        raise RuntimeError(method + ": no answer")

    def js(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "awaitPromise": True,
                                           "returnByValue": True}, session=True)
        if "exceptionDetails" in r:
            raise RuntimeError("js %s: %s" % (expr, r["exceptionDetails"]))
        return r["result"].get("value")

    def wait(self, expr, timeout_s=20):
        end = time.time() + timeout_s
        while time.time() < end:
            v = self.js(expr)
            if v:
                return v
            time.sleep(0.2)
        return None

    def goto(self, url):
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait("document.readyState === 'complete'")

    def shot(self, name):
        png = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"},
                                         session=True)["data"])
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(png)
        return len(png)

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run(["rm", "-rf", self.profile])


b = Browser()
try:
    # ---- explorer
    b.goto(base + "/#explorer")
    h = b.wait("(() => { const v = Number(document.getElementById('height').textContent);"
               " return v > 0 ? v : 0; })()")
    check(bool(h), "explorer: the height is shown (%s)" % h)
    rows = b.wait("(() => { const r = [...document.querySelectorAll('#blocks tbody tr')];"
                  " return r.length ? r.map(x => Number(x.dataset.height)) : null; })()")
    check(bool(rows) and max(rows) <= h + 5 and all(x >= 1 for x in rows),
          "explorer: recent committed blocks listed (%s)" % rows)
    # the events/s figure moves while the load runs
    seen = set()
    end = time.time() + 12
    while time.time() < end and len(seen) < 3:
        seen.add(b.js("document.getElementById('rate').textContent"))
        time.sleep(0.5)
    check(len(seen) >= 2 and any(v not in ("-", "0.0") for v in seen),
          "explorer: events/s moves under load (%s)" % sorted(seen))
    # one block's events: the first listed block with events
    first = b.js("(() => { const r = [...document.querySelectorAll('#blocks tbody tr')]"
                 ".find(x => Number(x.children[2].textContent) > 0);"
                 " if (!r) return null; r.click(); return Number(r.dataset.height); })()")
    n = b.wait("(() => { const r = document.querySelectorAll('#block_events tbody tr');"
               " return r.length || 0; })()")
    block = json.loads(b.js("fetch('/v1/blocks/%s?limit=50').then(r => r.text())" % first))
    check(first is not None and n == len(block["events"]),
          "explorer: block %s shows its %s events" % (first, n))
    cells = b.js("[...document.querySelectorAll('#block_events tbody tr')].map(r =>"
                 " [r.children[3].title, r.children[5].textContent])")
    check(all(len(c[0]) == 64 for c in cells), "explorer: every event has its holder pseudonym")
    check(all(c[1] in ("通过", "拒绝") for c in cells),
          "explorer: every event has its result (%s)" % sorted(set(c[1] for c in cells)))
    print("explorer.png: %d bytes" % b.shot("explorer.png"))
    # ---- language switch
    zh = b.js("document.getElementById('title').textContent")
    b.js("document.getElementById('lang').click()")
    en = b.js("document.getElementById('title').textContent")
    tab = b.js("document.querySelector('[data-tab=holder]').textContent")
    check(zh == "certa 授权记录账本" and en == "certa authorization ledger" and
          tab == "Holder records", "language: Chinese by default, English after the switch")
    res = b.js("document.querySelector('#block_events tbody tr').children[5].textContent")
    check(res in ("ok", "rejected"), "language: the table's results in English too (%s)" % res)
    b.js("document.getElementById('lang').click()")
    check(b.js("document.getElementById('title').textContent") == zh,
          "language: switched back to Chinese")
    # ---- holder page
    b.js("document.querySelector('[data-tab=holder]').click()")
    check(b.js("!document.getElementById('holder').hidden && document.getElementById('explorer').hidden"),
          "tabs: the holder tab shows the holder page alone")
    b.js("document.getElementById('holder_id').value = %s;"
         "document.querySelector('#holder_form button').click()" % json.dumps(holder["holder_id"]))
    got = b.wait("(() => { const r = [...document.querySelectorAll('#records tbody tr')];"
                 " const g = document.querySelectorAll('#grants tbody tr');"
                 " return r.length && g.length ? r.map(x => [Number(x.dataset.seq),"
                 " x.children[6].title, x.children[7].className, x.children[8].textContent])"
                 " : null; })()")
    want = [[r["seq"], r.get("grant_id", ""), "ok" if r["result"] == "ok" else "bad",
             r.get("reason", "")] for r in holder["records"]]
    check(got == want, "holder: the page lists exactly certa query holder's %d records"
          % len(want))
    grants = b.js("[...document.querySelectorAll('#grants tbody tr')].map(r => r.dataset.grant)")
    check(sorted(grants) == sorted(set(r["grant_id"] for r in holder["records"] if "grant_id" in r)),
          "holder: one status row per grant (%d)" % len(grants))
    print("holder.png: %d bytes" % b.shot("holder.png"))
    # ---- the receipt verifier, in the browser
    b.goto(base + "/#verify")  # a link to the tab opens it
    check(b.js("!document.getElementById('verify').hidden && document.getElementById('holder').hidden"),
          "tabs: #verify opens the verifier alone")
    d = json.loads(receipt)
    sig = d["commit"]["signatures"][0]["signature"]
    bad_sig = dict(d, commit=dict(d["commit"], signatures=[dict(d["commit"]["signatures"][0],
        signature=("%02x" % (int(sig[:2], 16) ^ 1)) + sig[2:])] + d["commit"]["signatures"][1:]))
    ev = d["event"]
    bad_ev = dict(d, event=ev[:20] + ("%02x" % (int(ev[20:22], 16) ^ 0x80)) + ev[22:])

    def verify(text):
        b.js("document.getElementById('verify_results').replaceChildren();"
             "document.getElementById('receipt_text').value = %s;"
             "document.getElementById('verify_btn').click()" % json.dumps(text))
        return b.wait("(() => { const l = [...document.querySelectorAll('#verify_results li')];"
                      " return l.length ? l.map(x => [x.dataset.valid, x.textContent]) : null; })()")
    v = verify(receipt)
    check(v is not None and v[0][0] == "1", "verifier: a real receipt is valid (%s)" % v)
    v = verify(json.dumps(bad_sig))
    check(v is not None and v[0][0] == "0" and "commit:" in v[0][1],
          "verifier: a flipped signature byte is rejected at commit (%s)" % v)
    v = verify(json.dumps(bad_ev))
    check(v is not None and v[0][0] == "0" and "proof:" in v[0][1],
          "verifier: a flipped event byte is rejected at the proof (%s)" % v)
    v = verify(receipt + "\n" + json.dumps(bad_sig))
    check(v is not None and [x[0] for x in v] == ["1", "0"], "verifier: two lines, two verdicts")
    print("verify.png: %d bytes" % b.shot("verify.png"))
    # ---- nothing but the gateway, nothing thrown
    urls = [e["params"]["request"]["url"] for e in b.events
            if e.get("method") == "Network.requestWillBeSent"]
    check(urls and all(u.startswith(base + "/") for u in urls),
          "the page loads nothing from elsewhere (%d requests)" % len(urls))
    thrown = [e["params"]["exceptionDetails"].get("text", "") for e in b.events
              if e.get("method") == "Runtime.exceptionThrown"]
    check(not thrown, "the page throws nothing %s" % thrown[:2])
finally:
    b.close()
sys.exit(1 if fails else 0)
