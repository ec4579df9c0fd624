// The store contract's test Worker: runs internal/d1's test binary
// (GOOS=js GOARCH=wasm go test -c, served as d1.test.wasm by
// `serve.mjs --test`) inside workerd, where the D1 binding exists, and
// streams the test's output back as the response. cmd/roster-edge's
// TestD1Contract starts it and reads the result.
//
//   POST /?run=REGEXP   runs d1.test -test.v -test.run=REGEXP
//
// The body is the test's standard output and error as it is written, then
// a last line "exit N" with the binary's exit code. One run at a time: the
// binary's output goes through the one globalThis.fs of Go's glue.
import "./wasm_exec.js"; // Go's own glue (defines globalThis.Go and globalThis.fs), copied by ./build
import module from "./d1.test.wasm";

const encoder = new TextEncoder();
let running = false;

export default {
  async fetch(request, env) {
    if (request.method !== "POST") {
      return new Response("POST /?run=REGEXP runs the contract\n", { status: 405 });
    }
    if (running) {
      return new Response("a run is in progress\n", { status: 409 });
    }
    running = true;
    const run = new URL(request.url).searchParams.get("run") ?? "";
    const { readable, writable } = new TransformStream();
    const out = writable.getWriter();
    // Once the client hangs up, writes fail: they are dropped, not left
    // as unhandled rejections.
    const send = (bytes) => out.write(bytes).catch(() => {});
    const write = (text) => send(encoder.encode(text));

    // Go writes os.Stdout and os.Stderr through fs.writeSync; the
    // buffer is a view of the module's memory, so it is copied.
    globalThis.fs.writeSync = (fd, buf) => {
      send(buf.slice());
      return buf.length;
    };
    // internal/d1's TestContract finds the binding here (contractBinding).
    globalThis.rosterContractDB = env.DB;
    const go = new Go();
    go.argv = ["d1.test", "-test.v", "-test.run=" + run];
    let code = -1;
    go.exit = (c) => { code = c; };

    // The Response goes back at once and the run writes into it: the
    // request stays alive while its body is being written.
    (async () => {
      try {
        const instance = await WebAssembly.instantiate(module, go.importObject);
        await go.run(instance);
      } catch (err) {
        await write(`\nthe test Worker failed: ${err.stack ?? err}\n`);
      } finally {
        delete globalThis.rosterContractDB;
        running = false;
      }
      await write(`\nexit ${code}\n`);
      await out.close().catch(() => {});
    })();
    return new Response(readable, { headers: { "content-type": "text/plain; charset=utf-8" } });
  },
};
