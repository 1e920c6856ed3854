// NFC by the reference's engine: one JSON string per stdin line -> JSON.stringify(s.normalize("NFC")).
import { readFileSync } from "node:fs";
const lines = readFileSync(0, "utf8").split("\n").filter(Boolean);
process.stdout.write(lines.map((l) => JSON.stringify(JSON.parse(l).normalize("NFC"))).join("\n") + "\n");
