import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ConnectionErrorCodeType } from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { ALERT_NAMES, CONDITIONS, SELF_MONITORING_ALERTS, guidanceFor, headingAnchor, selfMonitoringGuidance } from '../../src/alert/remediation/guidance.js';
import { RUNBOOKS_PATH, errorCodeSections, renderRunbooks } from '../../src/alert/remediation/runbooks.js';
import { ERROR_CODE_GUIDANCE } from '../../src/alert/remediation/table.js';

const committed = readFileSync(RUNBOOKS_PATH, 'utf8');
const headings = committed.split('\n').filter((l) => /^#{1,6} /.test(l));
const anchors = new Set(headings.map((h) => headingAnchor(h.replace(/^#+ /, ''))));

describe('docs/runbooks.md', () => {
  it('is up to date with the remediation table (run `npx tsx src/alert/remediation/runbooks.ts --write`)', () => {
    expect(committed === renderRunbooks(), 'docs/runbooks.md is stale: run npx tsx src/alert/remediation/runbooks.ts --write and commit it').toBe(true);
  });

  it('has one ## section per alert, anchored at the lower-cased alert name', () => {
    const names = [...Object.values(ALERT_NAMES), ...SELF_MONITORING_ALERTS];
    expect(names).toHaveLength(29);
    for (const name of names) {
      expect(headings.filter((h) => h === `## ${name}`), name).toHaveLength(1);
      expect(anchors.has(name.toLowerCase()), name).toBe(true);
    }
    expect(headings.filter((h) => h.startsWith('## '))).toHaveLength(names.length);
  });

  it('has a ### subsection under KmsCustomKeyStoreFailed for each error code x store type', () => {
    const failed = committed.slice(committed.indexOf('## KmsCustomKeyStoreFailed'), committed.indexOf('\n## ', committed.indexOf('## KmsCustomKeyStoreFailed') + 5));
    const sections = errorCodeSections();
    expect(sections).toHaveLength(21);
    expect(new Set(sections.map((s) => s.code))).toEqual(new Set(Object.values(ConnectionErrorCodeType)));
    for (const s of sections) {
      expect(failed, s.heading).toContain(`\n### ${s.heading}\n`);
      expect(failed).toContain(`(#${s.anchor})`);
    }
    expect(failed).toContain('\n### INVALID_CREDENTIALS (CloudHSM)\n');
    expect(failed).toContain('\n### INVALID_CREDENTIALS (external)\n');
    expect(failed).toContain('\n### Unknown error code\n');
  });

  it('says the same as the notifications (same table)', () => {
    for (const s of errorCodeSections()) {
      const g = guidanceFor('FAILED', {
        accountId: '1', accountName: '1', region: 'eu-west-1', storeId: 'cks-1', storeName: null, storeType: s.type, state: 'FAILED', errorCode: s.code, clusterId: null, details: {},
      });
      const t = ERROR_CODE_GUIDANCE[s.code as keyof typeof ERROR_CODE_GUIDANCE][s.type]!;
      expect(g.summary).toBe(t.summary);
      expect(committed).toContain(g.summary);
      expect(committed).toContain(g.cause);
      for (const step of g.steps) expect(committed).toContain(step);
    }
    for (const c of CONDITIONS) {
      const g = guidanceFor(c, { accountId: '', accountName: '1', region: '', storeId: null, storeName: null, storeType: null, state: null, errorCode: null, clusterId: null, details: {} });
      expect(committed, c).toContain(g.summary);
      // Unknown values are written as the same shell variables the runbook uses.
      for (const cmd of g.commands) expect(committed, cmd).toContain(cmd);
    }
    for (const a of SELF_MONITORING_ALERTS) for (const cmd of selfMonitoringGuidance(a).commands) expect(committed).toContain(cmd);
  });

  it('every in-page link points at an existing heading', () => {
    for (const m of committed.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors.has(m[1]!), m[1]).toBe(true);
  });

  it('the --check entry point agrees', () => {
    const out = execFileSync('npx', ['tsx', 'src/alert/remediation/runbooks.ts', '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBe('');
  }, 30_000);
});
