// The reference side of the tokenizer comparison: @lenml/tokenizers (transformers.js's
// tokenizers, JavaScript) run on a model directory's tokenizer.json + tokenizer_config.json.
//   node ref_tokenize.mjs NODE_MODULES MODEL_DIR [--decode | --decode-raw | --bench REPEATS] < lines
// Encode: one JSON string per stdin line -> one JSON array of ids per line (no special
// tokens added). Each line is first decoded from bytes with the WHATWG UTF-8 decoder
// (TextDecoder, non-fatal), so raw invalid UTF-8 inside a line becomes U+FFFD exactly as
// any JavaScript caller of the reference would see it. --decode: arrays -> JSON strings
// with the reference's default decode (clean_up_tokenization_spaces from the config);
// --decode-raw: without that clean-up.
// --bench N: encode every line N times and print {"bytes": B, "seconds": S, "cpu_seconds":
// C, "tokens": T} (UTF-8 bytes of the lines' texts; encode time only, wall and process CPU).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeModules, modelDir, mode, arg] = process.argv.slice(2);
if (!nodeModules || !modelDir) {
  console.error("usage: node ref_tokenize.mjs NODE_MODULES MODEL_DIR [--decode | --bench N] < lines");
  process.exit(2);
}
const lib = await import(pathToFileURL(join(nodeModules, "@lenml/tokenizers/dist/main.mjs")).href);
const tokenizerJSON = JSON.parse(readFileSync(join(modelDir, "tokenizer.json"), "utf8"));
let tokenizerConfig = {};
try {
  tokenizerConfig = JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json"), "utf8"));
} catch (e) {
  if (e.code !== "ENOENT") throw e;
}
const tok = lib.TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

const input = readFileSync(0);
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const lines = [];
let start = 0;
for (let i = 0; i <= input.length; i++) {
  if (i === input.length || input[i] === 0x0a) {
    if (i > start) lines.push(decoder.decode(input.subarray(start, i)));
    start = i + 1;
  }
}

const out = [];
if (mode === "--decode" || mode === "--decode-raw") {
  const args = mode === "--decode" ? {} : { clean_up_tokenization_spaces: false };
  for (const line of lines) out.push(JSON.stringify(tok.decode(JSON.parse(line), args)));
} else if (mode === "--bench") {
  const repeats = Number(arg || 1);
  const texts = lines.map((l) => JSON.parse(l));
  const enc = new TextEncoder();
  let bytes = 0;
  for (const t of texts) bytes += enc.encode(t).length;
  for (const t of texts) tok.encode(t, { add_special_tokens: false }); // warm-up (JIT)
  tok.model.clear_cache?.();
  const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  let n = 0;
  for (let r = 0; r < repeats; r++) for (const t of texts) n += tok.encode(t, { add_special_tokens: false }).length;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
  out.push(JSON.stringify({ bytes: bytes * repeats, seconds, cpu_seconds: (c.user + c.system) / 1e6, tokens: n }));
} else {
  for (const line of lines) {
    const text = JSON.parse(line);
    if (typeof text !== "string") throw new Error("expected a JSON string per line");
    out.push(JSON.stringify(tok.encode(text, { add_special_tokens: false })));
  }
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
