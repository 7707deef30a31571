// The redirect-bypass vectors of the URL-trust tests (issue 12): what a browser (Node's WHATWG
// `new URL(vector, BASE)`) makes of each, and whether Palisade must accept it.
//   node scripts/redirect-vectors.mjs generate          rewrites tests/data/redirect-vectors.json
//   node scripts/redirect-vectors.mjs check             fails if the file no longer matches Node
//   node scripts/redirect-vectors.mjs compare URL       sends every vector to a server (e.g. the
//        reference, ../shared/conformance/reference.sh) and prints its verdicts beside ours
// Trusted origins of the table: BASE, http://localhost:5173, http://127.0.0.1:*, http://localhost:*
// (the conformance configuration).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BASE = "http://127.0.0.1:3000";
const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "../tests/data/redirect-vectors.json");

// Accepted: each resolves to a trusted origin wherever the browser is, and has no user info,
// whitespace, control character or backslash.
const accept = [
  "", "/", "/dashboard", "/a/b?x=1&y=2#frag", "/path?next=%2Fhome", "/user@home", "/%09/evil.example",
  "/.evil.example", "/path?redirect=http://evil.example", "/a?x=%5c", "/a:b", "/%",
  "http://localhost:5173/home?x=1", "http://127.0.0.1:9999/cb", "HTTP://LOCALHOST:5173/x", "hTtP://localhost:5173/x",
  "http://localhost:5173/#@evil.example", "http://localhost:05173/", "http://2130706433:5173/x", "http://0x7f.1:5173/x",
  "http://\u24dbocalhost:5173/x", "http://localhost:5173/%2f%2fevil",
];
const refuse = [
  // relative forms a browser does not resolve as a path on this origin
  "dashboard", "./x", "../x", "?x=1", "#top", "%2f%2fevil.example",
  // tabs, CR/LF, spaces and other characters a browser strips
  "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "\t//evil.example", "/\t\\evil.example",
  " http://evil.example", " /dashboard", "/dashboard ", "/a b", "\u0000/evil", "/dashboard\u0000", "/\u2028/evil",
  "\u00a0//evil.example", "java\tscript:alert(1)", "http://evil.example/\u000b",
  // slashes and backslashes in every position
  "//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "\\\\evil.example", "\\/evil.example",
  "/\\/evil.example", "/x\\y", "/a?x=\\", "http:\\\\evil.example", "http://evil.example\\@localhost:5173",
  "http://localhost:5173\\@evil.example",
  // encoded slash and backslash in the path
  "/%2f%2fevil.example", "/%2F/evil.example", "/%5cevil.example", "/%5C%5Cevil.example", "/x/%2f%2fevil",
  // schemes without slashes, other schemes
  "https:evil.example", "http:evil.example", "http:/evil.example", "https:/evil.example", "javascript:alert(1)",
  "JavaScript:alert(document.cookie)", "javascript://localhost:5173/%0aalert(1)",
  "data:text/html,<script>alert(1)</script>", "blob:http://localhost:5173/0b6c", "ftp://localhost:5173/",
  "file:///etc/passwd",
  // user info, look-alike hosts, IDN and full-width dots, IPv6
  "http://localhost:5173@evil.example", "http://evil.example@localhost:5173", "http://user:pw@localhost:5173/x",
  "http://evil.example%2f@localhost:5173", "http://localhost:5173.evil.example", "http://localhost.evil.example:5173",
  "http://127.0.0.1.evil.example", "http://evil\u3002example", "http://localhost\u3002evil.example",
  "http://localhost\uff0eevil.example", "http://xn--localhost-xyz.example", "\uff0f\uff0fevil.example",
  "http://[::1]:5173", "http://[::ffff:127.0.0.1]:5173", "https://localhost:5173", "HTTP://EVIL.EXAMPLE",
  "http://evil.example#http://localhost:5173", "http://evil.example?http://localhost:5173",
  "http://evil.example/http://localhost:5173", "http://localhost:5173:80/",
];

function browser(v) {
  try { return new URL(v, BASE).href; } catch { return null; }
}

function table() {
  return [...accept.map((v) => [v, true]), ...refuse.map((v) => [v, false])]
    .map(([input, trusted]) => ({ input, browser: browser(input), trusted }));
}

async function compare(server) {
  const post = (p, body) => fetch(`${server}/api/auth${p}`, {
    method: "POST", redirect: "manual",
    headers: { "content-type": "application/json", origin: "http://localhost:5173" }, body: JSON.stringify(body),
  });
  let same = 0;
  for (const { input, trusted } of table()) {
    const r = await post("/request-password-reset", { email: "nobody@x.test", redirectTo: input });
    const theirs = r.status !== 403;
    if (theirs === trusted) same++;
    else console.log(`differs: ${JSON.stringify(input)} palisade=${trusted ? "accept" : "refuse"} server=${r.status}`);
  }
  console.log(`${same}/${table().length} verdicts agree`);
}

const [cmd, arg] = process.argv.slice(2);
if (cmd === "generate") {
  fs.writeFileSync(file, JSON.stringify({ base: BASE, vectors: table() }, null, 1) + "\n");
  console.log(`${table().length} vectors written to ${file}`);
} else if (cmd === "check") {
  const stored = JSON.parse(fs.readFileSync(file, "utf8"));
  const fresh = table();
  const bad = fresh.filter((v, i) => JSON.stringify(v) !== JSON.stringify(stored.vectors[i]));
  if (bad.length || fresh.length !== stored.vectors.length) {
    console.log("not ok: tests/data/redirect-vectors.json differs from Node's URL parser / this script:", bad);
    process.exit(1);
  }
  console.log(`${fresh.length} passed, 0 failed (redirect vectors resolved by Node's URL parser)`);
} else if (cmd === "compare" && arg) {
  await compare(arg);
} else {
  console.error("usage: redirect-vectors.mjs generate | check | compare URL");
  process.exit(2);
}
