import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../random/index.js";
import { numberArrayText } from "./json-text.js";

test("numberArrayText finds a top-level number array's exact text, and nothing that only looks like one", () => {
  assert.equal(numberArrayText('{"routingKey":"u","state":[0.1,-2,3e-7,1E+5]}', "state"), "[0.1,-2,3e-7,1E+5]");
  assert.equal(numberArrayText('{ "state" : [1,2] , "x": 1 }', "state"), "[1,2]");
  assert.equal(numberArrayText('{"state":[]}', "state"), "[]");
  // not plain numbers without whitespace: the caller formats the numbers itself
  assert.equal(numberArrayText('{"state":[1, 2]}', "state"), undefined);
  assert.equal(numberArrayText('{"state":[1,null]}', "state"), undefined);
  assert.equal(numberArrayText('{"state":{"a":1}}', "state"), undefined);
  assert.equal(numberArrayText('{"state":"[1,2]"}', "state"), undefined);
  // inside strings, nested objects and arrays: not the top-level member
  assert.equal(numberArrayText('{"routingKey":"\\"state\\":[9]","nested":{"state":[8]},"list":[{"state":[7]}]}', "state"), undefined);
  assert.equal(numberArrayText('{"routingKey":"a\\\\","state":[5]}', "state"), "[5]");
  assert.equal(numberArrayText('{"routingKey":"\\\\\\"state\\":[9]","state":[6]}', "state"), "[6]");
  // a value named like the key is not a member name
  assert.equal(numberArrayText('{"routingKey":"state","other":[1]}', "state"), undefined);
  // the last occurrence counts, as in JSON.parse
  assert.equal(numberArrayText('{"state":[1],"state":[2]}', "state"), "[2]");
  assert.equal(numberArrayText('{"state":[1],"state":[2, 3]}', "state"), undefined);
  assert.equal(numberArrayText('{"state":[1, 2],"state":[3]}', "state"), "[3]");
  assert.equal(numberArrayText("[1,2]", "state"), undefined);
});

test("on generated bodies numberArrayText agrees with JSON.parse", () => {
  const rng = new Rng(7);
  const pick = <T>(items: T[]): T => items[Math.floor(rng.uniform() * items.length)];
  const texts = ["a", "state", '"state":[1]', "\\", 'x\\"y', "ключ", "{[", "]}"];
  const numberText = () => pick([() => String(rng.uniform() * 10 - 5), () => String(Math.floor(rng.uniform() * 100)), () => "1e-7", () => "-0", () => "2.50"])();
  const value = (depth: number): string => {
    const kind = Math.floor(rng.uniform() * (depth > 2 ? 3 : 5));
    if (kind === 0) return numberText();
    if (kind === 1) return JSON.stringify(pick(texts));
    if (kind === 2) return pick(["true", "null"]);
    if (kind === 3) return `[${Array.from({ length: Math.floor(rng.uniform() * 3) }, () => value(depth + 1)).join(",")}]`;
    return object(depth + 1);
  };
  const object = (depth: number): string => {
    const members = Array.from({ length: Math.floor(rng.uniform() * 4) }, () => `${JSON.stringify(pick(["state", "routingKey", "x", 'st"ate']))}:${value(depth)}`);
    return `{${members.join(",")}}`;
  };
  let plain = 0;
  for (let n = 0; n < 3000; n++) {
    const members = [object(1), object(1)].map((o) => o.slice(1, -1)).filter((m) => m.length > 0);
    if (rng.uniform() < 0.7) members.splice(Math.floor(rng.uniform() * (members.length + 1)), 0, `"state":[${Array.from({ length: Math.floor(rng.uniform() * 5) }, numberText).join(rng.uniform() < 0.9 ? "," : ", ")}]`);
    const text = `{${members.join(",")}}`;
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const found = numberArrayText(text, "state");
    const state = parsed["state"];
    if (found === undefined) {
      // only when the member is missing, not an array of numbers, or written with whitespace
      if (Array.isArray(state) && state.every((v) => typeof v === "number")) assert.ok(/"state":\[[^\]]*\s/.test(text) || text.lastIndexOf('"state":') < 0, text);
      continue;
    }
    plain += 1;
    assert.ok(text.includes(found), text);
    assert.match(found, /^\[[-+.0-9eE,]*\]$/);
    assert.deepEqual(JSON.parse(found), state, text);
  }
  assert.ok(plain > 1000, `only ${plain} bodies had a plain state`);
});
