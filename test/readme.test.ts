// The README's examples are part of the product: they must keep parsing.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseScenario } from '../src/simulator/scenario.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const yamlBlocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('README', () => {
  it('shows a scenario example that the simulator accepts', () => {
    const scenario = yamlBlocks.find((b) => b.includes('managementAccount:'));
    expect(scenario).toBeDefined();
    expect(() => parseScenario(parse(scenario!), 'README.md')).not.toThrow();
  });

  it('gives the two quick-start commands', () => {
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toContain('npm install && npm test');
  });
});
