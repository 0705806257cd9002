// Durable local state behind one small, backend-neutral interface: named JSON documents, each read
// whole and replaced atomically. The file backend is the default.
// The poll pipeline's interface is StateBackend (./backend.ts): commit(poll) atomically, keyed outbox
// and delivery records, a fencing epoch on every write. This document-level store is the file
// backend's building block (its checkpoint documents) and keeps the state format the previous
// versions wrote.
//
// Documents are kept separate so that a hot, small write (recording one delivery in the outbox)
// never rewrites a cold, large one (a multi-MB snapshot).
import { jsonChunks } from '../snapshot/json-chunks.js';

/** `backend` is the file StateBackend's checkpoint marker (epoch, pollId), `oncall` its silences/acks/audit records; see file-backend.ts. */
export const STATE_DOC_NAMES = ['snapshot', 'alerts', 'outbox', 'history', 'backend', 'oncall'] as const;
export type StateDocName = (typeof STATE_DOC_NAMES)[number];

/** Bumped when the envelope changes incompatibly. A document with another version is set aside, never guessed at. */
export const STATE_FORMAT_VERSION = 1;
const FORMAT = 'keystore-watch-state';

/** What every backend persists around a document's data. */
export interface StateEnvelope<T = unknown> {
  format: typeof FORMAT;
  version: number;
  name: StateDocName;
  /** Epoch ms of the write (diagnostics only). */
  writtenAt: number;
  data: T;
}

/**
 * Validates (and may normalise) a document's data after it was parsed; throws on a bad shape.
 * A throw makes the document count as corrupt: it is set aside and read() answers null.
 */
export type DocParser<T> = (data: unknown) => T;

export interface CorruptReport {
  name: StateDocName;
  /** Why it was rejected: a JSON syntax error, a version or shape mismatch. */
  reason: string;
  /** Where the bad document now lives (file path, table row, ...); null when it could not be moved. */
  movedTo: string | null;
  bytes: number;
}

/** Hooks for logs and metrics (e.g. keystore_watch_state_corrupt_total, keystore_watch_state_write_seconds). */
export interface StateStoreObserver {
  onCorrupt?(report: CorruptReport): void;
  onWrite?(name: StateDocName, bytes: number, durationMs: number): void;
}

export interface StateStore {
  /**
   * Loads a named document; null when absent. A corrupt document (unparseable, wrong version, or
   * rejected by `parse`) is moved aside and reported through the observer, then treated as absent,
   * so a bad file can never turn into a crash loop. I/O errors other than "not found" still throw.
   */
  read<T>(name: StateDocName, parse?: DocParser<T>): Promise<T | null>;
  /** Atomically replaces a named document: a later read sees the previous or the new value, never a mix. Writes to one document land in call order. */
  write<T>(name: StateDocName, value: T): Promise<void>;
  /** Waits for pending writes; later calls reject. */
  close(): Promise<void>;
}

/** Minimal structured logger (pino's Logger fits). */
export interface Log {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

// ---------------------------------------------------------------------------------------------
// Pure encoding shared by the backends, so every backend accepts and rejects exactly the same input.

const envelopeOf = <T>(name: StateDocName, value: T, writtenAt: number): StateEnvelope<T> => ({ format: FORMAT, version: STATE_FORMAT_VERSION, name, writtenAt, data: value });

export function encodeDocument<T>(name: StateDocName, value: T, writtenAt: number): string {
  return JSON.stringify(envelopeOf(name, value, writtenAt));
}

/** Chunks of about this size (bytes) when a document or a journal record is encoded in chunks. */
export const ENCODE_CHUNK_BYTES = 64 * 1024;

/**
 * encodeDocument's text, byte for byte, as UTF-8 chunks of about ENCODE_CHUNK_BYTES (jsonChunks), made as
 * they are consumed: a 20,000-store snapshot is never one ~20 MB string plus its ~20 MB UTF-8 copy
 * (issue 14, peak RSS). Spread it into an array to encode it now (a caller changing `value` afterwards
 * then cannot change what is written). Each record of the snapshot's top-level arrays (stores, clusters,
 * targets) is stringified whole (depth 3: envelope, data, the array).
 */
export function encodeDocumentChunks<T>(name: StateDocName, value: T, writtenAt: number): Generator<Buffer> {
  return jsonChunks(envelopeOf(name, value, writtenAt), ENCODE_CHUNK_BYTES, 3);
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; reason: string };

export function decodeDocument<T>(name: StateDocName, text: string, parse?: DocParser<T>): DecodeResult<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${(err as Error).message}` };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'not a JSON object' };
  const env = raw as Partial<StateEnvelope>;
  if (env.format !== FORMAT) return { ok: false, reason: `missing or unknown format marker ${JSON.stringify(env.format)}` };
  if (env.version !== STATE_FORMAT_VERSION) return { ok: false, reason: `unsupported format version ${JSON.stringify(env.version)} (this build reads ${STATE_FORMAT_VERSION})` };
  if (env.name !== name) return { ok: false, reason: `document is named ${JSON.stringify(env.name)}, expected ${JSON.stringify(name)}` };
  if (!('data' in env)) return { ok: false, reason: 'envelope has no data' };
  if (!parse) return { ok: true, value: env.data as T };
  try {
    return { ok: true, value: parse(env.data) };
  } catch (err) {
    return { ok: false, reason: `shape check failed: ${(err as Error).message}`.slice(0, 2000) };
  }
}

export function isStateDocName(v: string): v is StateDocName {
  return (STATE_DOC_NAMES as readonly string[]).includes(v);
}
