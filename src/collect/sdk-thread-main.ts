// The entry of one AWS SDK thread (see sdk-threads.ts): builds each command from its service's SDK module
// and sends it through this thread's own AwsClients, signing with the credentials that came with the call.
import { parentPort } from 'node:worker_threads';
import type { Config } from '../config/schema.js';
import { AwsClients } from './aws-clients.js';
import { threadedCommand } from './threaded-commands.js';
import { THREAD_READY, toTransferableError, type AttemptCount, type TransferableError, type ThreadReply, type ThreadRequest, type ThreadSetup, type ThreadedService } from './sdk-threads.js';

const port = parentPort!;
let counts: AttemptCount[] = [];
/** Built from the first message (ThreadSetup): a thread may start before the configuration is read (prestartSdkThread). */
let clients: AwsClients | null = null;

async function setUp(aws: Config['aws']): Promise<void> {
  const built = new AwsClients({
    aws: { ...aws, sdkThreads: 0 },
    // Never used: every call carries its borrower's credentials.
    credentials: () => Promise.reject(new Error('an AWS SDK thread has no credentials of its own')),
    observer: {
      request: (service, operation) => { counts.push([service, operation]); },
      failure: (service, operation, code) => { counts.push([service, operation, code]); },
    },
  });
  clients = built;
  // The same settings lookup as the main thread's (FIPS only where AWS has the endpoint, the configured
  // endpoint, the user agent), before the first call.
  await built.prepare().catch(() => undefined);
  port.postMessage(THREAD_READY);
}
const running = new Map<number, AbortController>();

type Reply = { id: number; ok: true; out: unknown } | { id: number; ok: false; err: TransferableError };

// Replies go back together once this turn of the event loop is done (see SdkThreads.post).
let replies: ThreadReply[] = [];
function reply(r: Reply): void {
  replies.push({ ...r, counts } as ThreadReply);
  counts = [];
  if (replies.length > 1) return;
  setImmediate(() => {
    const batch = replies;
    replies = [];
    port.postMessage(batch);
  });
}

port.on('message', (m: ThreadRequest[] | ThreadSetup) => {
  if (Array.isArray(m)) for (const r of m) handle(r);
  // The main thread posts the setup before any call (SdkThreads.spawn), and a port keeps the order.
  else if (m.t === 'setup' && !clients) void setUp(m.aws);
});

function handle(m: ThreadRequest): void {
  if (m.t === 'cancel') {
    running.get(m.id)?.abort();
    return;
  }
  const { id, call } = m;
  const ctl = new AbortController();
  running.set(id, ctl);
  const Command = threadedCommand(call.service, call.command);
  const sent = !clients
    ? Promise.reject(new Error('this AWS SDK thread has not been set up (no ThreadSetup before the call)'))
    : Command
    ? clients.lendAs(call.service, call.key, call.credentials, (client) => (client as { send: (c: unknown) => Promise<unknown> }).send(new Command(call.input)), ctl.signal)
    : Promise.reject(new Error(`${call.service} ${call.command} is not a command the SDK threads send (threaded-commands.ts)`));
  sent.then(
    // $metadata (request id, attempts) is read by no caller of a successful call: not cloned back.
    (out) => {
      if (out && typeof out === 'object') delete (out as { $metadata?: unknown }).$metadata;
      reply({ id, ok: true, out });
    },
    (err: unknown) => reply({ id, ok: false, err: toTransferableError(err) }),
  ).finally(() => running.delete(id));
}

