import { readFileSync } from 'node:fs';

// Read once from package.json so the build_info metric and --version never disagree with the release.
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
