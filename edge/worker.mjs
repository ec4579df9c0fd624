// roster's API as a Cloudflare Worker. The Go program (roster.wasm, from
// cmd/roster-edge) starts once per isolate, at its first request: Workers
// allow no randomness or timers at the top level, and the Go runtime needs
// both as it starts. Its main registers globalThis.rosterServe and waits;
// every request is then one call into the running program.
//
// Requests and responses cross into Go as bytes in two buffers that live
// as long as the isolate, plus numbers: every JavaScript object Go holds
// costs it a finalizer, and those were most of a short request's time
// (cmd/roster-edge/bridge.go has the format).
import "./wasm_exec.js"; // Go's own glue (defines globalThis.Go), copied by ./build
import module from "./roster.wasm";

const maxBuffered = 1 << 20; // a larger declared body is left unread: the API answers 413
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const pending = new Map(); // request id → {resolve, reject}
let nextID = 0;

// in and out hold any request and response up to 8 KiB (the API's usual
// ones by far; a larger one gets a buffer of its own).
const bridge = {
  in: new Uint8Array(8 << 10),
  out: new Uint8Array(8 << 10),
  env: undefined,
  // done is Go's answer to request id: status (-1: the bridge failed, the
  // head is the message), the head's and the body's length in out (or in
  // big, when they did not fit).
  done(id, status, headLen, bodyLen, big) {
    const p = pending.get(id);
    pending.delete(id);
    const buf = big ?? bridge.out;
    const head = decoder.decode(buf.subarray(0, headLen));
    if (status < 0) {
      p.reject(new Error(head));
      return;
    }
    const headers = new Headers();
    for (const line of head.split("\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon), line.slice(colon + 1));
    }
    // Statuses that have no body must be given null, not an empty one.
    const body = bodyLen > 0 && status >= 200 && status !== 204 && status !== 304
      ? buf.slice(headLen, headLen + bodyLen) : null;
    // The handler compresses (httpapi's compress middleware) and says so
    // in Content-Encoding; without "manual", workerd would read that
    // header as an order to compress the body again.
    p.resolve(new Response(body, { status, headers, encodeBody: "manual" }));
  },
};
globalThis.rosterBridge = bridge;

let started; // the promise of a running program, until it exits

function start() {
  if (!started) {
    const go = new Go();
    started = WebAssembly.instantiate(module, go.importObject).then((instance) => {
      // run returns when main exits, which only a panic makes it do; the
      // next request then starts a fresh program.
      go.run(instance).finally(() => { started = undefined; });
      if (typeof globalThis.rosterServe !== "function") {
        throw new Error("roster.wasm did not register rosterServe");
      }
    });
    started.catch(() => { started = undefined; });
  }
  return started;
}

export default {
  async fetch(request, env) {
    await start();
    bridge.env = env;
    let head = request.method + "\n" + request.url + "\n";
    for (const [name, value] of request.headers) head += name + ":" + value + "\n";
    let body = null, bodyLen = 0;
    const declared = Number(request.headers.get("content-length") ?? 0);
    if (declared > maxBuffered) {
      bodyLen = -1;
    } else if (request.body !== null) {
      body = new Uint8Array(await request.arrayBuffer());
      bodyLen = body.length;
    }
    // Written into bridge.in and read by Go before rosterServe returns,
    // so one buffer serves every request, however many are in flight.
    let buf = bridge.in;
    let headLen;
    const fits = encoder.encodeInto(head, buf);
    if (fits.read === head.length && fits.written + Math.max(bodyLen, 0) <= buf.length) {
      headLen = fits.written;
    } else {
      const h = encoder.encode(head);
      headLen = h.length;
      buf = new Uint8Array(headLen + Math.max(bodyLen, 0));
      buf.set(h);
    }
    if (body) buf.set(body, headLen);
    const id = nextID++;
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      globalThis.rosterServe(id, headLen, bodyLen, buf === bridge.in ? null : buf);
    });
  },
};
