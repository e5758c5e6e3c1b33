import { test } from "node:test";
import assert from "node:assert/strict";
import { exitCodeFor, isCodedError } from "./errors.js";

test("coded errors map to exit status 1, unknown errors to 3", () => {
  const coded = Object.assign(new Error("bad"), { code: "reward_out_of_range" });
  assert.equal(isCodedError(coded), true);
  assert.equal(exitCodeFor(coded), 1);
  assert.equal(exitCodeFor(new Error("boom")), 3);
  assert.equal(exitCodeFor(Object.assign(new Error("usage"), { code: "commander.unknownOption" })), 2);
});
