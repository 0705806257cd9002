// Structured logs: one JSON line per event (a readable line when stdout is a terminal). Every string
// passes through the secret redactor before it is written; an Error (as the first argument or in any
// field) keeps its name, message, code and stack, scrubbed of secrets (util/redact.ts).
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { redact, redactValue, serializeError } from './util/redact.js';

export type { Logger };

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Turns pino's JSON lines into "HH:MM:SS INFO message key=value" for people at a terminal. */
function prettyStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (!line) continue;
        try {
          const { level, time, msg, severity: _s, pid: _p, hostname: _h, ...rest } = JSON.parse(line) as Record<string, unknown>;
          // An error's stack goes on the lines below, as people expect to read it.
          const err = rest.err as { stack?: unknown } | undefined;
          const stack = err && typeof err === 'object' && typeof err.stack === 'string' ? err.stack : null;
          if (stack) rest.err = { ...err, stack: undefined };
          const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
          out.write(`${new Date(Number(time)).toISOString().slice(11, 19)} ${(LEVELS[Number(level)] ?? 'INFO').padEnd(5)} ${String(msg ?? '')}${fields ? '  ' + fields : ''}\n${stack ? stack.replace(/^/gm, '    ') + '\n' : ''}`);
        } catch {
          out.write(line + '\n');
        }
      }
      cb();
    },
  });
}

export function createLogger(opts: { level?: string; pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const dest = opts.destination ?? process.stdout;
  const pretty = opts.pretty ?? Boolean((dest as NodeJS.WriteStream).isTTY);
  return pino(
    {
      level: opts.level ?? 'info',
      base: undefined,
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (label, number) => ({ level: number, severity: label }) },
      hooks: {
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? redact(a) : a instanceof Error ? { err: serializeError(a) } : redactValue(a))) as Parameters<typeof method>);
        },
      },
      // The hook has already turned Errors into plain objects; this covers child-logger bindings.
      serializers: { err: (e: unknown) => (e instanceof Error ? serializeError(e) : e) },
    },
    pretty ? prettyStream(dest) : (dest as pino.DestinationStream),
  );
}

/** A logger that writes nothing (tests, library use). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
