// The configuration's contact with the file system: reading the config file itself, and checking that
// the files and directories it names are usable, before anything starts. Every failure is a sentence
// naming the file or the key, for a ConfigError (exit 2); no raw Node error escapes.
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import path from 'node:path';
import type { Config } from './schema.js';

/** A configuration is a few KB; anything this large is a wrong file, not a config. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** PEM certificates and keys (a certificate chain included) fit far below this. */
export const MAX_PEM_BYTES = 1024 * 1024;

const uid = () => process.getuid?.() ?? -1;

/** An operator's sentence for a Node file-system error code. */
function fsProblem(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'ENOENT': return 'file not found';
    case 'ENOTDIR': return 'a component of the path is not a directory';
    case 'EACCES': case 'EPERM': return `permission denied (keystore-watch runs as uid ${uid()})`;
    case 'ELOOP': return 'too many levels of symbolic links (a symlink loop?)';
    case 'EISDIR': return 'is a directory, not a file';
    case 'ENAMETOOLONG': return 'the path is too long';
    case 'EMFILE': case 'ENFILE': return 'too many open files';
    case 'EIO': return 'I/O error while reading';
    default: return `cannot be read (${e.code ?? e.name}: ${e.message})`;
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a named pipe';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

/**
 * Reads a regular file of at most `max` bytes. Opened first and checked through the descriptor, so a
 * FIFO never blocks the read and the size checked is the size read.
 */
export function readSmallFile(file: string, max: number): { ok: true; bytes: Buffer } | { ok: false; problem: string } {
  let fd: number;
  try {
    // Checked before opening: opening a FIFO with no writer would block the process.
    const st = statSync(file);
    if (!st.isFile()) return { ok: false, problem: `is ${kindOf(st)}; expected a regular file` };
    fd = openSync(file, 'r');
  } catch (err) {
    return { ok: false, problem: fsProblem(err) };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { ok: false, problem: `is ${kindOf(st)}; expected a regular file` };
    if (st.size > max) return { ok: false, problem: `is ${st.size} bytes, over the ${max}-byte limit` };
    const bytes = Buffer.alloc(st.size);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(fd, bytes, off, bytes.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { ok: true, bytes: bytes.subarray(0, off) };
  } catch (err) {
    return { ok: false, problem: fsProblem(err) };
  } finally {
    closeSync(fd);
  }
}

/** Offset of the first byte that is not part of a valid UTF-8 sequence, or -1. */
export function invalidUtf8Offset(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return i;
    // Overlong 3/4-byte forms, UTF-16 surrogates and code points above U+10FFFF.
    const c1 = b[i + 1]!;
    if (n === 2 && ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 >= 0xa0))) return i;
    if (n === 3 && ((c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 >= 0x90))) return i;
    i += n + 1;
  }
  return -1;
}

/** The config file as text, or the sentence saying why it cannot be (the caller names the file). */
export function readConfigFile(file: string, missing?: string): { ok: true; text: string } | { ok: false; problem: string } {
  const r = readSmallFile(file, MAX_CONFIG_BYTES);
  if (!r.ok) return { ok: false, problem: r.problem === 'file not found' && missing ? missing : r.problem };
  const bad = invalidUtf8Offset(r.bytes);
  if (bad >= 0) {
    const line = r.bytes.subarray(0, bad).toString('latin1').split('\n').length;
    return { ok: false, problem: `not valid UTF-8 (byte 0x${r.bytes[bad]!.toString(16).padStart(2, '0')} at offset ${bad}, line ${line}); save the file as UTF-8` };
  }
  // A UTF-8 byte order mark is harmless; drop it.
  let text = r.bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.includes('\u0000')) return { ok: false, problem: 'contains NUL bytes (a binary file?)' };
  return { ok: true, text };
}

function readPem(file: string, key: string, problems: string[]): Buffer | null {
  const r = readSmallFile(file, MAX_PEM_BYTES);
  if (!r.ok) {
    problems.push(`${key}: ${file} ${r.problem}`);
    return null;
  }
  return r.bytes;
}

/** The nearest path component that exists (stateDir is created when missing, but only inside a directory). */
function nearestExisting(p: string): { path: string; stats: Stats } | { path: string; error: unknown } {
  let cur = path.resolve(p);
  for (;;) {
    try {
      return { path: cur, stats: statSync(cur) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const parent = path.dirname(cur);
      // ENOTDIR: a component is a file; walking up finds it and says so.
      if ((code !== 'ENOENT' && code !== 'ENOTDIR') || parent === cur) return { path: cur, error: err };
      cur = parent;
    }
  }
}

/**
 * The files and directories the configuration names, checked as the daemon will use them. Returns one
 * problem per unusable one, each naming the key and the path.
 */
export function checkReferencedPaths(config: Config): string[] {
  const problems: string[] = [];

  // stateDir: a directory, or creatable inside one. (Whether it is writable is checked when the daemon
  // takes its lock at start, where the answer is current.)
  const dir = nearestExisting(config.stateDir);
  if ('error' in dir) problems.push(`stateDir: ${dir.path} ${fsProblem(dir.error)}`);
  else if (!dir.stats.isDirectory()) {
    problems.push(dir.path === path.resolve(config.stateDir)
      ? `stateDir: ${config.stateDir} is ${dir.stats.isFile() ? 'a file' : kindOf(dir.stats)}, not a directory`
      : `stateDir: ${config.stateDir} cannot be created: ${dir.path} is ${dir.stats.isFile() ? 'a file' : kindOf(dir.stats)}, not a directory`);
  }

  // http.tls: both PEM files readable, a certificate and a private key that belong together.
  const tls = config.http.tls;
  if (tls) {
    const certPem = readPem(tls.certFile, 'http.tls.certFile', problems);
    const keyPem = readPem(tls.keyFile, 'http.tls.keyFile', problems);
    let cert: X509Certificate | null = null;
    let key: KeyObject | null = null;
    if (certPem) {
      try {
        cert = new X509Certificate(certPem);
      } catch {
        problems.push(`http.tls.certFile: ${tls.certFile} holds no PEM certificate`);
      }
    }
    if (keyPem && /-----BEGIN ENCRYPTED PRIVATE KEY-----|^Proc-Type: 4,ENCRYPTED/m.test(keyPem.toString('latin1'))) {
      problems.push(`http.tls.keyFile: ${tls.keyFile} is encrypted; keystore-watch cannot prompt for a passphrase (give an unencrypted key readable only by its user)`);
    } else if (keyPem) {
      try {
        key = createPrivateKey(keyPem);
      } catch {
        problems.push(`http.tls.keyFile: ${tls.keyFile} holds no PEM private key`);
      }
    }
    if (cert && key && !cert.checkPrivateKey(key)) problems.push(`http.tls.keyFile: ${tls.keyFile} is not the private key of the certificate in http.tls.certFile (${tls.certFile})`);
  }
  return problems;
}
