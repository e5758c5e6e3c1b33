import { DuckDBInstance, type DuckDBConnection, type DuckDBVector } from "@duckdb/node-api";

/** An in-memory DuckDB with extension auto-install/auto-load off: parquet and json are built in. */
export async function openDuckDB(): Promise<{ connection: DuckDBConnection; close(): void }> {
  const instance = await DuckDBInstance.create(":memory:", {
    autoinstall_known_extensions: "false",
    autoload_known_extensions: "false",
  });
  const connection = await instance.connect();
  return {
    connection,
    close() {
      connection.closeSync();
      instance.closeSync();
    },
  };
}

/** SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** SQL quoted identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

type NumericArray = Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

interface RawNumericVector {
  items?: NumericArray;
  validity?: { data: BigUint64Array | null; offset: number };
}

/**
 * Copies `count` values of a numeric data-chunk vector into `out[offset + i * stride]`; returns the number of
 * nulls (written as NaN, or 0 in integer arrays). Fast path: the vector's backing typed array and validity mask
 * (internal fields of @duckdb/node-api, read directly because per-item getItem() is ~30x slower); falls back to
 * getItem() when their shape differs.
 */
export function copyNumericVector(
  vector: DuckDBVector,
  out: Float32Array | Float64Array | Int32Array | Uint8Array,
  offset: number,
  count: number,
  stride = 1,
): number {
  const raw = vector as unknown as RawNumericVector;
  const items = raw.items;
  const validity = raw.validity;
  const missing = out instanceof Int32Array || out instanceof Uint8Array ? 0 : NaN;
  if (ArrayBuffer.isView(items) && !(items instanceof BigInt64Array) && !(items instanceof BigUint64Array) && validity && "data" in validity) {
    if (stride === 1) {
      out.set(items.subarray(0, count), offset);
    } else {
      for (let i = 0, o = offset; i < count; i++, o += stride) out[o] = items[i]!;
    }
    if (!validity.data) return 0;
    const words = validity.data;
    const base = validity.offset;
    let nulls = 0;
    for (let i = 0; i < count; i++) {
      const bit = base + i;
      const word = words[bit >>> 6]!;
      if (word === 0xffffffffffffffffn) {
        i += 63 - (bit & 63);
        continue;
      }
      if (((word >> BigInt(bit & 63)) & 1n) === 0n) {
        out[offset + i * stride] = missing;
        nulls++;
      }
    }
    return nulls;
  }
  let nulls = 0;
  for (let i = 0; i < count; i++) {
    const value = vector.getItem(i);
    if (value === null) {
      out[offset + i * stride] = missing;
      nulls++;
    } else {
      out[offset + i * stride] = typeof value === "boolean" ? (value ? 1 : 0) : Number(value);
    }
  }
  return nulls;
}

/**
 * Copies a fixed-size ARRAY vector (e.g. FLOAT[20]) row-major into `out` at `offset`: its child vector is already
 * row-major, so this is one block copy per chunk. Falls back to per-item values when the internals differ.
 */
export function copyArrayVector(vector: DuckDBVector, out: Float32Array | Float64Array | Int32Array, offset: number, count: number, width: number): void {
  const child = (vector as unknown as { childData?: DuckDBVector }).childData;
  if (child && child.itemCount >= count * width) {
    copyNumericVector(child, out, offset, count * width);
    return;
  }
  for (let i = 0; i < count; i++) {
    const value = vector.getItem(i) as { items?: readonly unknown[] } | null;
    for (let j = 0; j < width; j++) out[offset + i * width + j] = value?.items ? Number(value.items[j]) : NaN;
  }
}
