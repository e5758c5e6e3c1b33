// The routing hash: not a generator (seeded randomness lives in src/random), a stable key -> [0, 1) map for traffic splits.
/** FNV-1a 32-bit hash of a string, mapped to [0, 1): a stable traffic split that survives restarts. */
export function stableUnit(key: string, salt: string): number {
  let hash = 0x811c9dc5;
  const text = salt + "\u0000" + key;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32) so keys differing in one trailing character spread over the whole range.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) / 4294967296;
}
