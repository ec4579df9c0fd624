// Measures the Worker's own cost per request without workerd: edge/worker.mjs
// and roster.wasm under Node, /health and a 401 (no D1), sequential, wall
// and CPU time per request (CPU is the steadier figure on a shared
// machine). Node's Request and Response are part of the figure.
//
//   (cd edge && ./build) && node bench/edge/bridge.mjs [edge dir] [n]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const dir = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../../edge"));
const n = Number(process.argv[3] ?? 20000);
// worker.mjs imports the module as workerd does (a compiled module);
// under Node it is compiled here instead.
const src = fs.readFileSync(path.join(dir, "worker.mjs"), "utf8")
  .replace('import "./wasm_exec.js";', `import ${JSON.stringify(path.join(dir, "wasm_exec.js"))}; import fs from "node:fs";`)
  .replace('import module from "./roster.wasm";', `const module = await WebAssembly.compile(fs.readFileSync(${JSON.stringify(path.join(dir, "roster.wasm"))}));`);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "roster-bridge-"));
fs.writeFileSync(path.join(tmp, "worker.mjs"), src);
const worker = (await import(path.join(tmp, "worker.mjs"))).default;
fs.rmSync(tmp, { recursive: true });

const env = { JWT_SECRET: "bench-secret-of-at-least-32-bytes-long", LOG_LEVEL: "warn", DB: { prepare() { throw new Error("no D1 here"); } } };
const headers = { accept: "*/*", "user-agent": "Go-http-client/1.1", host: "127.0.0.1:8787", "accept-encoding": "gzip", "cf-connecting-ip": "127.0.0.1" };
const call = (p) => worker.fetch(new Request("http://127.0.0.1:8787" + p, { headers }), env);
for (const [name, p, status] of [["/health", "/health", 200], ["401", "/api/users", 401]]) {
  for (let i = 0; i < n / 10; i++) await (await call(p)).arrayBuffer(); // warm-up
  const t0 = performance.now(), c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const r = await call(p);
    await r.arrayBuffer();
    if (r.status !== status) throw new Error(`${p}: got ${r.status}, want ${status}`);
  }
  const wall = (performance.now() - t0) * 1000 / n, cpu = process.cpuUsage(c0);
  console.log(`| ${name} | ${wall.toFixed(0)} µs | ${((cpu.user + cpu.system) / n).toFixed(0)} µs |`);
}
process.exit(0);
