// Serves the Worker locally: workerd through miniflare, with a fresh,
// in-memory D1 database bound as DB. The integration test and the
// benchmark start it; it prints "listening <url>" once ready and stops on
// SIGTERM or SIGINT and, with --stdin, when its stdin closes (so that it
// dies with a test that started it).
//
// With --test, it serves the store contract's test Worker (contract.mjs)
// instead, running the test binary at that path (internal/d1's, built by
// GOOS=js GOARCH=wasm go test -c) against the same fresh D1 database.
//
//   JWT_SECRET=... node serve.mjs [--port N] [--stdin]   (default: a free port on 127.0.0.1)
//   node serve.mjs --test d1.test.wasm [--port N] [--stdin]
import { Miniflare } from "miniflare";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const testArg = process.argv.indexOf("--test");

const bindings = { JWT_SECRET: process.env.JWT_SECRET ?? "" };
for (const name of ["JWT_ISSUER", "JWT_AUDIENCE", "LOG_LEVEL"]) {
  if (process.env[name]) bindings[name] = process.env[name];
}

const mf = new Miniflare({
  host: "127.0.0.1",
  port,
  modules: testArg > 0
    ? [
      { type: "ESModule", path: join(here, "contract.mjs") },
      { type: "ESModule", path: join(here, "wasm_exec.js") },
      // The path names the module that contract.mjs imports; the bytes
      // are the binary's, wherever it was built.
      { type: "CompiledWasm", path: join(here, "d1.test.wasm"), contents: readFileSync(process.argv[testArg + 1]) },
    ]
    : [
      { type: "ESModule", path: join(here, "worker.mjs") },
      { type: "ESModule", path: join(here, "wasm_exec.js") },
      { type: "CompiledWasm", path: join(here, "roster.wasm") },
    ],
  compatibilityDate: "2026-04-01",
  d1Databases: { DB: "roster-local" },
  d1Persist: false,
  bindings,
});

const url = await mf.ready;
console.log(`listening ${url.origin}`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await mf.dispose();
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
if (process.argv.includes("--stdin")) {
  process.stdin.on("end", stop);
  process.stdin.resume();
}
