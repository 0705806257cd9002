// `keystore-watch silence add|list|expire`: silences through the daemon's API, like amtool.
import { userInfo, hostname } from 'node:os';
import { printable, UsageError } from './common.js';
import { CLIENT_USAGE, clientFrom, cliDuration, cliTime, fail, parseCommand } from './api-client.js';

const USAGE = `usage:
  keystore-watch silence add --match 'account_id="222222222222"' [--match ...] (--duration 2h | --end TIME)
                             [--start TIME] --comment TEXT [--author NAME]
  keystore-watch silence list [--all]
  keystore-watch silence expire ID [ID...] [--author NAME]

Matchers use Alertmanager's syntax (=, !=, =~, !~), e.g. --match 'account_name=~"payments-.*"'.
The author defaults to $USER@host. Writes need the daemon's http.authToken.

${CLIENT_USAGE}`;

interface SilenceJson { id: string; status: string; source: string; matchers: string[]; startsAt: string | null; endsAt: string | null; createdBy: string; comment: string }

const defaultAuthor = (): string => {
  try { return `${userInfo().username}@${hostname()}`; } catch { return 'keystore-watch-cli'; }
};

export async function main(argv: string[], now = Date.now()): Promise<number> {
  try {
    const [sub, ...rest] = argv;
    if (!sub || sub === '--help' || sub === '-h') { process.stdout.write(USAGE + '\n'); return sub ? 0 : 2; }
    const args = parseCommand(rest, {
      match: { type: 'string', short: 'm', multiple: true }, duration: { type: 'string', short: 'd' }, start: { type: 'string' }, end: { type: 'string' },
      comment: { type: 'string', short: 'c' }, author: { type: 'string', short: 'a' }, all: { type: 'boolean' },
    }, USAGE);
    if (!args) return 0;
    const v = args.values;
    const json = v.output === 'json';
    if (v.output !== undefined && v.output !== 'json' && v.output !== 'simple') throw new UsageError('--output must be simple or json');
    const api = clientFrom(v);
    if (sub === 'add') {
      const matchers = (v.match as string[] | undefined) ?? [];
      // amtool also takes matchers as positional arguments.
      matchers.push(...args.positionals);
      if (matchers.length === 0) throw new UsageError(`silence add needs at least one --match\n\n${USAGE}`);
      if (typeof v.comment !== 'string' || v.comment.trim() === '') throw new UsageError('silence add needs --comment (why: a ticket, the work being done)');
      if (v.duration !== undefined && v.end !== undefined) throw new UsageError('give --duration or --end, not both');
      const startsAt = typeof v.start === 'string' ? cliTime(v.start, now) : now;
      const endsAt = typeof v.end === 'string' ? cliTime(v.end, now) : startsAt + cliDuration(typeof v.duration === 'string' ? v.duration : '1h');
      const r = await api.request('POST', '/api/v1/silences', {
        matchers, startsAt: new Date(startsAt).toISOString(), endsAt: new Date(endsAt).toISOString(),
        createdBy: typeof v.author === 'string' ? v.author : defaultAuthor(), comment: v.comment,
      }) as { silenceId: string; silence: SilenceJson };
      process.stdout.write(json ? JSON.stringify(r.silence) + '\n' : `${r.silenceId}\n`);
      return 0;
    }
    if (sub === 'list' || sub === 'query') {
      if (args.positionals.length) throw new UsageError(`silence list takes no arguments\n\n${USAGE}`);
      const r = await api.request('GET', '/api/v1/silences') as { silences: SilenceJson[] };
      const shown = v.all ? r.silences : r.silences.filter((s) => s.status !== 'expired');
      if (json) { process.stdout.write(JSON.stringify(shown) + '\n'); return 0; }
      const rows = [['ID', 'STATUS', 'MATCHERS', 'ENDS AT', 'CREATED BY', 'COMMENT'],
        ...shown.map((s) => [s.id, s.status, s.matchers.join(' '), s.endsAt ?? 'never', s.createdBy, s.comment].map((x) => printable(x)))];
      const widths = rows[0]!.map((_, i) => Math.min(60, Math.max(...rows.map((r) => r[i]!.length))));
      for (const row of rows) process.stdout.write(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
      return 0;
    }
    if (sub === 'expire') {
      if (args.positionals.length === 0) throw new UsageError(`silence expire needs the silence ID(s)\n\n${USAGE}`);
      const by = typeof v.author === 'string' ? v.author : defaultAuthor();
      for (const id of args.positionals) {
        await api.request('DELETE', `/api/v1/silences/${encodeURIComponent(id)}`, { by });
        if (!json) process.stdout.write(`expired ${printable(id)}\n`);
      }
      return 0;
    }
    throw new UsageError(`unknown silence command '${printable(sub)}'\n\n${USAGE}`);
  } catch (err) {
    return fail(err);
  }
}
