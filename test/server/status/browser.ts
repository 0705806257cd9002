// The system Chromium (Debian's /usr/bin/chromium, installed by .ci/run) driven through playwright-core:
// never a downloaded browser. Screenshots go to a git-ignored artefacts directory.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTEFACTS = join(new URL('../../../', import.meta.url).pathname, '.tmp', 'artefacts', 'status');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

/** Collects what must never happen on the page: CSP violations and other console errors, dialogs. */
export function watchPage(page: Page): { problems: string[]; dialogs: string[] } {
  const seen = { problems: [] as string[], dialogs: [] as string[] };
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy|Refused to/i.test(m.text())) seen.problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => seen.problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => { seen.dialogs.push(d.message()); void d.dismiss(); });
  return seen;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTEFACTS, { recursive: true });
  const path = join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
