// Runs the browser's receipt verifier (web/app.js, the part between
// "receipt verification, in the browser" and genesisBytes) under Node's
// WebCrypto on a receipts file, one verdict per line:
//   line N: ok [proven]   or   line N: PART: why
// usage: node check_web_verifier.js APP_JS GENESIS_JSON RECEIPTS_JSONL
"use strict";
const fs = require("fs");
const [appJs, genesisPath, receiptsPath] = process.argv.slice(2);
const src = fs.readFileSync(appJs, "utf8");
const from = src.indexOf("/* ---- receipt verification, in the browser ---- */");
const to = src.indexOf("async function genesisBytes()");
if (from < 0 || to < from) { console.error("verifier not found in " + appJs); process.exit(3); }
const verify = new Function("crypto", src.slice(from, to) + "\nreturn verifyReceipt;")(globalThis.crypto);
(async () => {
  const bytes = new Uint8Array(fs.readFileSync(genesisPath));
  const gen = { doc: JSON.parse(new TextDecoder().decode(bytes)),
                chainId: new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)) };
  const lines = fs.readFileSync(receiptsPath, "utf8").split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].trim()) continue;
    try {
      const v = await verify(JSON.parse(lines[i]), gen);
      console.log("line " + (i + 1) + ": ok" + (v.proven ? " proven" : ""));
    } catch (e) {
      console.log("line " + (i + 1) + ": " + e.message);
    }
  }
})();
