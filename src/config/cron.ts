// The `schedule` expression: validation beyond node-cron's own, the schedule in words, and the interval
// it really polls at. Pure functions; node-cron (4.x) still runs the schedule, so the accepted grammar is
// node-cron's: 5 fields (minute hour day-of-month month day-of-week) or 6 (a leading seconds field),
// names (JAN, MON), ranges, lists, steps, L / W / L-n in day-of-month, n#k and nL in day-of-week, and
// @yearly / @monthly / @weekly / @daily / @hourly. Fields are matched with AND (node-cron's TimeMatcher),
// in UTC here (the interval does not depend on the zone except across DST changes).
import { validateDetailed } from 'node-cron';

type FieldValue = number | string;

export interface CronFields {
  second: FieldValue[];
  minute: FieldValue[];
  hour: FieldValue[];
  dayOfMonth: FieldValue[];
  month: FieldValue[];
  dayOfWeek: FieldValue[];
}

export interface ParsedCron {
  expression: string;
  /** True when the expression has a leading seconds field. */
  hasSeconds: boolean;
  fields: CronFields;
}

export type CronParse = { ok: true; cron: ParsedCron } | { ok: false; problem: string };

const FIELD_NAMES = ['second', 'minute', 'hour', 'day-of-month', 'month', 'day-of-week'] as const;
const BOUNDS: [number, number][] = [[0, 59], [0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
const NICKNAMES: Record<string, string> = {
  '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *',
};

/**
 * Validates an expression. Beyond node-cron's checks it rejects steps that cannot step: a step larger
 * than its field's range (node-cron accepts `*\/70` in the seconds field and runs it as "second 0"; the
 * writer meant something else), and ranges written backwards.
 */
export function parseCron(expression: string): CronParse {
  const trimmed = expression.trim();
  const resolved = NICKNAMES[trimmed.toLowerCase()] ?? trimmed;
  const raw = resolved.split(/\s+/);
  if (raw.length !== 5 && raw.length !== 6) return { ok: false, problem: `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (a leading seconds field), got ${raw.length}` };
  const hasSeconds = raw.length === 6;
  const parts = hasSeconds ? raw : ['0', ...raw];
  for (let i = 0; i < 6; i++) {
    if (!hasSeconds && i === 0) continue;
    const [min, max] = BOUNDS[i]!;
    for (const item of parts[i]!.split(',')) {
      const step = /^(.*)\/(\d+)$/.exec(item);
      if (step) {
        const n = Number(step[2]);
        const base = step[1]!;
        const span = base === '*' ? max - min : /^(\d+)-(\d+)$/.test(base) ? Number(base.split('-')[1]) - Number(base.split('-')[0]) : null;
        if (n === 0) return { ok: false, problem: `${FIELD_NAMES[i]} field "${parts[i]}": a step of 0 never advances` };
        if (span !== null && n > span) {
          return { ok: false, problem: `${FIELD_NAMES[i]} field "${parts[i]}": step ${n} is larger than the field's range ${base === '*' ? `${min}-${max}` : base}, so it would only ever match ${base === '*' ? min : base.split('-')[0]}; write that value, or a step that fits` };
        }
      }
      const range = /^(\d+)-(\d+)/.exec(step ? step[1]! : item);
      if (range && Number(range[1]) > Number(range[2])) return { ok: false, problem: `${FIELD_NAMES[i]} field "${parts[i]}": range ${range[0]} runs backwards` };
    }
  }
  const r = validateDetailed(resolved);
  if (!r.valid) {
    const e = r.errors[0]!;
    const field = e.field && e.field !== 'expression' ? `${e.field.replace(/([A-Z])/g, '-$1').toLowerCase()} field: ` : '';
    return { ok: false, problem: `${field}${e.message.replace('is a invalid', 'is an invalid')}` };
  }
  return { ok: true, cron: { expression, hasSeconds, fields: r.fields as CronFields } };
}

// ---------------------------------------------------------------------------------------------
// Day matching, as node-cron does it (L, nW, LW, L-n in day-of-month; n#k, nL in day-of-week).

const lastDay = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();
const weekday = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d)).getUTCDay();

function nearestWeekday(y: number, m: number, target: number): number {
  const t = Math.min(target, lastDay(y, m));
  const wd = weekday(y, m, t);
  if (wd === 6) return t === 1 ? 3 : t - 1;
  if (wd === 0) return t === lastDay(y, m) ? t - 2 : t + 1;
  return t;
}

function dayMatches(f: CronFields, y: number, m: number, d: number): boolean {
  if (!f.month.includes(m)) return false;
  const dom = f.dayOfMonth.some((v) => {
    if (v === d) return true;
    if (v === 'L') return d === lastDay(y, m);
    if (typeof v !== 'string') return false;
    const w = /^(\d{1,2}|L)W$/i.exec(v);
    if (w) return nearestWeekday(y, m, w[1] === 'L' ? lastDay(y, m) : Number(w[1])) === d;
    const off = /^L-(\d{1,2})$/i.exec(v);
    return off ? lastDay(y, m) - Number(off[1]) === d : false;
  });
  if (!dom) return false;
  const wd = weekday(y, m, d);
  return f.dayOfWeek.some((v) => {
    if (typeof v === 'number') return v % 7 === wd;
    const nth = /^([0-7])#([1-5])$/.exec(v);
    if (nth) return Number(nth[1]) % 7 === wd && Math.floor((d - 1) / 7) + 1 === Number(nth[2]);
    const last = /^([0-7])L$/i.exec(v);
    return last ? Number(last[1]) % 7 === wd && d + 7 > lastDay(y, m) : false;
  });
}

const nums = (v: FieldValue[]) => v.filter((x): x is number => typeof x === 'number').sort((a, b) => a - b);

/** Seconds of the day at which the schedule fires (on a day it fires at all). */
function secondsOfDay(f: CronFields): number[] {
  const out: number[] = [];
  for (const h of nums(f.hour)) for (const m of nums(f.minute)) for (const s of nums(f.second)) out.push(h * 3600 + m * 60 + s);
  return out;
}

export interface CronInterval {
  /** Shortest and longest time between two consecutive runs, ms; null when it never runs in 28 years. */
  minMs: number | null;
  maxMs: number | null;
}

/**
 * The shortest and longest gap between consecutive runs, over 28 years from 2026 (the Gregorian
 * weekday/leap-year cycle, so "the 29th of February on a Monday" is found too).
 */
export function cronInterval(c: ParsedCron): CronInterval {
  const times = secondsOfDay(c.fields);
  if (times.length === 0) return { minMs: null, maxMs: null };
  let minGap = Infinity;
  let maxGap = 0;
  for (let i = 1; i < times.length; i++) {
    const g = times[i]! - times[i - 1]!;
    minGap = Math.min(minGap, g);
    maxGap = Math.max(maxGap, g);
  }
  let prevDay: number | null = null;
  let days = 0;
  const start = Date.UTC(2026, 0, 1) / 86_400_000;
  for (let day = start; day < start + 28 * 366; day++) {
    const dt = new Date(day * 86_400_000);
    if (!dayMatches(c.fields, dt.getUTCFullYear(), dt.getUTCMonth() + 1, dt.getUTCDate())) continue;
    days++;
    if (prevDay !== null) {
      const g = (day - prevDay) * 86_400 + times[0]! - times[times.length - 1]!;
      minGap = Math.min(minGap, g);
      maxGap = Math.max(maxGap, g);
    }
    prevDay = day;
  }
  if (days === 0) return { minMs: null, maxMs: null };
  if (days === 1 && times.length === 1) return { minMs: null, maxMs: null };
  return { minMs: minGap * 1000, maxMs: maxGap * 1000 };
}

/** "5 seconds", "1 minute", "2 hours 30 minutes", "7 days". */
export function spellDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  const parts: string[] = [];
  for (const [unit, size] of [['day', 86_400], ['hour', 3600], ['minute', 60], ['second', 1]] as const) {
    const n = Math.floor(s / size);
    if (n > 0) parts.push(`${n} ${unit}${n === 1 ? '' : 's'}`);
    s -= n * size;
  }
  return parts.slice(0, 2).join(' ') || '0 seconds';
}

const MONTHS = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

function listWords(values: FieldValue[], bounds: [number, number], name: (v: number) => string): string | null {
  const n = nums(values);
  const all = bounds[1] - bounds[0] + 1;
  if (n.length >= all || (bounds[1] === 7 && new Set(n.map((x) => x % 7)).size === 7)) return null;
  const special = values.filter((v) => typeof v === 'string') as string[];
  const items = [...n.map(name), ...special.map(tokenWords)];
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const ORDINAL = ['', '1st', '2nd', '3rd', '4th', '5th'];
function tokenWords(v: string): string {
  if (v === 'L') return 'the last day of the month';
  let m = /^([0-7])#([1-5])$/.exec(v);
  if (m) return `the ${ORDINAL[Number(m[2])]} ${DAYS[Number(m[1])]} of the month`;
  if ((m = /^([0-7])L$/i.exec(v))) return `the last ${DAYS[Number(m[1])]} of the month`;
  if ((m = /^L-(\d+)$/i.exec(v))) return `${m[1]} day(s) before the last day of the month`;
  if ((m = /^(\d+|L)W$/i.exec(v))) return `the weekday nearest ${m[1] === 'L' ? 'the last day' : `day ${m[1]}`}`;
  return v;
}

/** "every 5 seconds", "every minute". */
function everyWords(ms: number): string {
  const spelled = spellDuration(ms);
  return `every ${/^1 [a-z]+$/.test(spelled) ? spelled.slice(2) : spelled}`;
}

/** The schedule in words: "every 5 seconds", "every minute", "at 02:30 on Monday through Friday"... */
export function describeCron(c: ParsedCron): string {
  const f = c.fields;
  const interval = cronInterval(c);
  const pad = (n: number) => String(n).padStart(2, '0');
  const sec = nums(f.second);
  const min = nums(f.minute);
  const hour = nums(f.hour);
  let time: string;
  const everyDay = [f.dayOfMonth, f.month, f.dayOfWeek].every((v, i) => listWords(v, [BOUNDS[i + 3]![0], BOUNDS[i + 3]![1]], String) === null);
  if (everyDay && interval.minMs !== null && interval.minMs === interval.maxMs && interval.minMs < 86_400_000) {
    const first = secondsOfDay(f)[0]!;
    const from = first === 0 ? '' : first < 60 ? ` (from second ${first})` : first < 3600 ? ` (from minute ${Math.floor(first / 60)}${first % 60 ? `, second ${first % 60}` : ''})` : ` (from ${pad(Math.floor(first / 3600))}:${pad(Math.floor(first / 60) % 60)})`;
    return `${everyWords(interval.minMs)}${from}`;
  }
  if (hour.length === 1 && min.length === 1 && sec.length === 1) time = `at ${pad(hour[0]!)}:${pad(min[0]!)}${c.hasSeconds && sec[0] !== 0 ? ':' + pad(sec[0]!) : ''}`;
  else {
    const s = c.hasSeconds ? listWords(f.second, [0, 59], String) : null;
    const m = listWords(f.minute, [0, 59], String);
    const h = listWords(f.hour, [0, 23], String);
    time = [
      c.hasSeconds ? (s === null ? 'every second' : `at second ${s}`) : null,
      m === null ? (c.hasSeconds ? 'of every minute' : 'every minute') : `${c.hasSeconds ? 'of' : 'at'} minute ${m}`,
      h === null ? (m === null ? null : 'of every hour') : `of hour ${h}`,
    ].filter(Boolean).join(' ');
  }
  if (everyDay && hour.length === 1 && min.length === 1 && sec.length === 1) time += ' every day';
  const dom = listWords(f.dayOfMonth, [1, 31], String);
  const mon = listWords(f.month, [1, 12], (v) => MONTHS[v]!);
  const dow = listWords(f.dayOfWeek, [0, 7], (v) => DAYS[v]!);
  return [time, dom !== null ? `on ${/^\d/.test(dom) ? 'day ' : ''}${dom}` : null, mon !== null ? `in ${mon}` : null, dow !== null ? `on ${dow}` : null].filter(Boolean).join(' ');
}

/** The interval line check-config prints: "every 5 seconds" or "between 4 seconds and 7 seconds". */
export function describeInterval(c: ParsedCron): string {
  const { minMs, maxMs } = cronInterval(c);
  if (minMs === null || maxMs === null) return 'runs at most once in 28 years';
  return minMs === maxMs ? everyWords(minMs) : `between ${spellDuration(minMs)} and ${spellDuration(maxMs)} apart`;
}

/**
 * A 6-field expression whose seconds field fires more than once a minute. Usually a 5-field cron with a
 * field added in front by mistake ("*\/5 * * * * *" meaning every 5 minutes polls every 5 seconds).
 */
export function cronWarnings(c: ParsedCron): string[] {
  const { minMs } = cronInterval(c);
  if (c.hasSeconds && minMs !== null && minMs < 60_000) {
    return [`schedule "${c.expression}" has 6 fields, the first being seconds: it polls ${describeInterval(c)}, more often than once a minute. If you meant minutes, write 5 fields.`];
  }
  return [];
}

/**
 * The latest time t (epoch ms, whole seconds) with at - lookbackMs < t <= at at which the schedule fires,
 * in UTC; null when none. For maintenance windows: a window with this schedule and duration D is open
 * at `at` when lastCronStart(c, at, D) is not null (it then ends at that start + D).
 */
export function lastCronStart(c: ParsedCron, at: number, lookbackMs: number): number | null {
  const times = secondsOfDay(c.fields);
  if (times.length === 0 || lookbackMs <= 0) return null;
  const from = at - lookbackMs;
  for (let day = Math.floor(at / 86_400_000); day >= Math.floor(from / 86_400_000); day--) {
    const dt = new Date(day * 86_400_000);
    if (!dayMatches(c.fields, dt.getUTCFullYear(), dt.getUTCMonth() + 1, dt.getUTCDate())) continue;
    for (let i = times.length - 1; i >= 0; i--) {
      const t = day * 86_400_000 + times[i]! * 1000;
      if (t <= at && t > from) return t;
      if (t <= from) break;
    }
  }
  return null;
}
