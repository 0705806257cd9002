// A snapshot document as a sequence of UTF-8 chunks instead of one string. JSON.stringify of a 20,000-store
// snapshot builds a ~18 MB string (and V8's growing buffer before it), then writing it makes an ~18 MB
// UTF-8 copy: both alive at the end of the poll, next to the two snapshots. jsonChunks() yields the very
// same bytes, a record at a time (JSON.stringify of each element of the top-level arrays), packed into
// chunks of about `chunkBytes`: a state backend writes them to its temp file one by one (fh.write), so
// only a chunk exists at a time. Pure; tested byte for byte against JSON.stringify.

/** Objects JSON.stringify walks into: plain objects and arrays without a toJSON of their own. */
function container(v: unknown): v is Record<string, unknown> | unknown[] {
  if (typeof v !== 'object' || v === null) return false;
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify writes for a value inside an object; undefined: the key is left out. */
const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * The text JSON.stringify(value) makes (no replacer, no indentation; a toJSON(key) is called with '' rather
 * than its property name, which Date's and every toJSON in this project ignore), as UTF-8 Buffers of about chunkBytes (the last may be smaller).
 * Containers down to `depth` levels are opened here; anything deeper is stringified whole per element.
 */
export function* jsonChunks(value: unknown, chunkBytes = 64 * 1024, depth = 3): Generator<Buffer> {
  let pending = '';
  const limit = Math.max(1, chunkBytes >> 1); // chars: at most 2 bytes each in the common case, 3 at worst
  function* flush(force: boolean): Generator<Buffer> {
    if (pending.length >= limit || (force && pending)) {
      yield Buffer.from(pending, 'utf8');
      pending = '';
    }
  }
  function* walk(v: unknown, level: number): Generator<Buffer> {
    if (level >= depth || !container(v)) {
      pending += JSON.stringify(v) ?? 'null';
      yield* flush(false);
      return;
    }
    if (Array.isArray(v)) {
      pending += '[';
      for (let i = 0; i < v.length; i++) {
        if (i) pending += ',';
        const x = v[i];
        if (skipped(x)) pending += 'null';
        else yield* walk(x, level + 1);
      }
      pending += ']';
      return;
    }
    pending += '{';
    let first = true;
    for (const k of Object.keys(v)) {
      const x = v[k];
      if (skipped(x)) continue;
      pending += `${first ? '' : ','}${JSON.stringify(k)}:`;
      first = false;
      yield* walk(x, level + 1);
    }
    pending += '}';
  }
  if (skipped(value)) return; // JSON.stringify(undefined) is undefined: no text at all
  yield* walk(value, 0);
  yield* flush(true);
}
