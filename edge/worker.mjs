// roster's API as a Cloudflare Worker. The Go program (roster.wasm, from
// cmd/roster-edge) starts once per isolate, at its first request: Workers
// allow no randomness or timers at the top level, and the Go runtime needs
// both as it starts. Its main registers globalThis.rosterFetch and waits;
// every request is then one call into the running program.
import "./wasm_exec.js"; // Go's own glue (defines globalThis.Go), copied by ./build
import module from "./roster.wasm";

let started; // the promise of a running program, until it exits

function start() {
  if (!started) {
    const go = new Go();
    started = WebAssembly.instantiate(module, go.importObject).then((instance) => {
      // run returns when main exits, which only a panic makes it do; the
      // next request then starts a fresh program.
      go.run(instance).finally(() => { started = undefined; });
      if (typeof globalThis.rosterFetch !== "function") {
        throw new Error("roster.wasm did not register rosterFetch");
      }
    });
    started.catch(() => { started = undefined; });
  }
  return started;
}

export default {
  async fetch(request, env) {
    await start();
    return globalThis.rosterFetch(request, env);
  },
};
