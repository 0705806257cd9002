// Channel ids (used in metrics, logs, the outbox and routes, so they must be stable across restarts): the
// channel's `name` when set, otherwise its type for the first channel of that type and `<type>-<n>` for
// the n-th ("slack", "slack-2", ...). A collision (two equal names, or a name equal to a generated id)
// gets "-2", "-3", ... appended, in configuration order. Here, not in notify/, because the config's
// validation of `alerting.routes` checks the channels routes name against them.

/** Channel ids in configuration order (see the header comment). */
export function channelIds(channels: readonly { type: string; name?: string }[]): string[] {
  const used = new Set<string>();
  const perType = new Map<string, number>();
  return channels.map((c) => {
    const n = (perType.get(c.type) ?? 0) + 1;
    perType.set(c.type, n);
    const base = c.name ?? (n === 1 ? c.type : `${c.type}-${n}`);
    let id = base;
    for (let k = 2; used.has(id); k++) id = `${base}-${k}`;
    used.add(id);
    return id;
  });
}
