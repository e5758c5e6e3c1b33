/**
 * The exact text of a top-level member of a JSON object text, when its value is an array of numbers written
 * without whitespace (what JSON.stringify and most encoders write), else undefined. `text` must be valid JSON (it
 * has already been parsed); when the key occurs more than once the last occurrence counts, as in JSON.parse.
 *
 * The decision service logs the client's state with it instead of formatting every float64 again: the text
 * parses to the very numbers the policy saw, and copying it costs a scan instead of one shortest-decimal
 * conversion per number.
 */
export function numberArrayText(text: string, key: string): string | undefined {
  const n = text.length;
  let depth = 0;
  /** At depth 1 right after "{" or ",": the next string is a member name. */
  let nameNext = false;
  let found: string | undefined;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (depth === 1 && nameNext) {
        nameNext = false;
        if (end - i - 1 === key.length && text.startsWith(key, i + 1)) {
          let v = end + 1;
          while (isSpace(text.charCodeAt(v)) || text.charCodeAt(v) === COLON) v++;
          const valueEnd = text.charCodeAt(v) === OPEN_BRACKET ? plainNumbersEnd(text, v + 1) : -1;
          if (valueEnd < 0) {
            found = undefined;
            i = v;
            continue;
          }
          found = text.slice(v, valueEnd + 1);
          i = valueEnd + 1;
          continue;
        }
      }
      i = end + 1;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth += 1;
      nameNext = depth === 1 && c === OPEN_BRACE;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth -= 1;
    } else if (c === COMMA) {
      if (depth === 1) nameNext = true;
    }
    i += 1;
  }
  return found;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Index of the quote closing the string that opens at `start` (a quote preceded by an even run of backslashes). */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** Digits, signs, points, exponents and commas up to the closing "]" (sticky: matches only at `lastIndex`). */
const PLAIN_NUMBERS = /[-+.0-9eE,]*\]/y;

/** Index of the "]" closing an array whose body from `start` holds only digits, signs, points, exponents and commas; else -1. */
function plainNumbersEnd(text: string, start: number): number {
  PLAIN_NUMBERS.lastIndex = start;
  return PLAIN_NUMBERS.test(text) ? PLAIN_NUMBERS.lastIndex - 1 : -1;
}
