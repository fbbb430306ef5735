import { existsSync } from 'node:fs';

// Debian packages some tests drive as real peers (Chromium for GraphiQL, PgBouncer for the
// pooler). On a developer's machine without them those tests skip with one loud line that
// says how to install them, so `npm test` stays green on a fresh machine; under CI=true they
// are required (`.ci/run` installs both), so CI can never pass by skipping them.

/** The first of `paths` that exists, or null (and one warning line) when none does; under CI, throws. */
export function systemPackage(pkg: string, paths: string[], who: string): string | null {
  const found = paths.find((p) => existsSync(p));
  if (found) return found;
  const install = `apt-get install -y --no-install-recommends ${pkg}`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(`${who}: ${pkg} is required under CI and is missing (${paths.join(' or ')}): ${install}`);
  }
  console.warn(`[${who}] SKIPPED: the Debian package ${pkg} is not installed (${install}; .ci/run does this)`);
  return null;
}

export const CHROMIUM_PATHS = ['/usr/bin/chromium'];
