// `keystore-watch ack ALERT_ID`: acknowledges a firing alert through the daemon's API. Reminders stop
// until it resolves (or --until); the resolved message names who acknowledged it.
import { userInfo, hostname } from 'node:os';
import { printable, UsageError } from './common.js';
import { CLIENT_USAGE, clientFrom, cliTime, fail, parseCommand } from './api-client.js';

const USAGE = `usage: keystore-watch ack ALERT_ID [--comment TEXT] [--until TIME|DURATION] [--author NAME]

ALERT_ID is the alertKey /api/v1/alerts lists (e.g. FAILED:store:222222222222/us-east-1/cks-1234567890abcdef0).
--until: an RFC 3339 time or a duration from now (4h); reminders resume after it if the alert still fires.

${CLIENT_USAGE}`;

export async function main(argv: string[], now = Date.now()): Promise<number> {
  try {
    const args = parseCommand(argv, { comment: { type: 'string', short: 'c' }, until: { type: 'string' }, author: { type: 'string', short: 'a' } }, USAGE);
    if (!args) return 0;
    if (args.positionals.length !== 1) throw new UsageError(`ack needs exactly one ALERT_ID\n\n${USAGE}`);
    const v = args.values;
    const api = clientFrom(v);
    let by = typeof v.author === 'string' ? v.author : '';
    if (!by) { try { by = `${userInfo().username}@${hostname()}`; } catch { by = 'keystore-watch-cli'; } }
    const id = args.positionals[0]!;
    const r = await api.request('POST', `/api/v1/alerts/${encodeURIComponent(id)}/ack`, {
      by, comment: typeof v.comment === 'string' ? v.comment : '', ...(typeof v.until === 'string' ? { until: new Date(cliTime(v.until, now)).toISOString() } : {}),
    }) as { ack: { alertId: string; by: string; until: string | null } };
    process.stdout.write(v.output === 'json' ? JSON.stringify(r.ack) + '\n' : `acknowledged ${printable(r.ack.alertId)} as ${printable(r.ack.by)}${r.ack.until ? ` until ${r.ack.until}` : ''}\n`);
    return 0;
  } catch (err) {
    return fail(err);
  }
}
