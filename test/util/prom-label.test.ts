import { describe, expect, it } from 'vitest';
import { LABEL_NAME, tagLabelCollisions, tagLabelName } from '../../src/util/prom-label.js';
import hostile from '../fixtures/hostile-strings.json' with { type: 'json' };

describe('tagLabelName', () => {
  it('prefixes tag_, writes snake_case and replaces every character Prometheus refuses, one per code point', () => {
    expect(tagLabelName('owner')).toBe('tag_owner');
    expect(tagLabelName('cost-center')).toBe('tag_cost_center');
    expect(tagLabelName('CostCenter')).toBe('tag_cost_center');
    expect(tagLabelName('aws:team/name')).toBe('tag_aws_team_name');
    expect(tagLabelName('Équipe 🔑')).toBe('tag__quipe__');
    expect(tagLabelName('AWSAccount2Owner')).toBe('tag_awsaccount2_owner');
  });

  it('always yields a valid, unreserved label name, whatever the key', () => {
    for (const key of [...Object.values(hostile), '__name__', '0day', '', 'a'.repeat(128), 'account_id']) {
      const name = tagLabelName(key);
      expect(name, key).toMatch(LABEL_NAME);
      expect(name, key).not.toMatch(/[A-Z]/);
      expect(name.startsWith('__'), key).toBe(false);
      expect(['account_id', 'account_name', 'ou_path']).not.toContain(name);
    }
  });

  it('finds keys that would share a label', () => {
    expect(tagLabelCollisions(['team-name', 'owner', 'team_name', 'team.name'])).toEqual([
      ['tag_team_name', 'team-name', 'team_name'],
      ['tag_team_name', 'team-name', 'team.name'],
    ]);
    expect(tagLabelCollisions(['owner', 'Owner', 'owner'])).toEqual([['tag_owner', 'owner', 'Owner']]);
  });
});
