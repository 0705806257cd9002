// Structured logs: one JSON line per event (a readable line when stdout is a terminal). Every string
// passes through the secret redactor before it is written.
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { redact, redactValue } from './util/redact.js';

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
          const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
          out.write(`${new Date(Number(time)).toISOString().slice(11, 19)} ${(LEVELS[Number(level)] ?? 'INFO').padEnd(5)} ${String(msg ?? '')}${fields ? '  ' + fields : ''}\n`);
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
          method.apply(this, args.map((a) => (typeof a === 'string' ? redact(a) : a instanceof Error ? { err: redact(a.message) } : redactValue(a))) as Parameters<typeof method>);
        },
      },
      serializers: { err: (e: unknown) => (e instanceof Error ? { type: e.name, message: redact(e.message) } : e) },
    },
    pretty ? prettyStream(dest) : (dest as pino.DestinationStream),
  );
}

/** A logger that writes nothing (tests, library use). */
export const silentLogger = (): Logger => pino({ level: 'silent' });
