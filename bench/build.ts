/**
 * The gateway the bench loads is the one production runs: the compiled JavaScript of
 * `npm run build` (`node dist/main.js`), not TypeScript through tsx, which costs memory and
 * wraps every function. The notes app it serves (test/fixtures/notes) is compiled beside it
 * into bench/tmp/notes (ignored by git; inside the repository so that its imports of
 * graphql, drizzle-orm and dataloader resolve to the gateway's own copies), its imports of
 * authgate's sources pointed at dist/, as an app built against the package would be. BENCH_FROM=src runs `src/main.ts` through tsx instead.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';
import { ROOT } from './servers.js';

export type GatewayBuild = {
  /** The script the gateway process runs, relative to the repository. */
  script: string;
  /** Whether that script is TypeScript (then the process loads tsx). */
  tsx: boolean;
  /** The app's config file (AUTHGATE_CONFIG). */
  appConfig: string;
  /** What the report says the gateway ran. */
  describe: string;
};

const FIXTURE = join(ROOT, 'test/fixtures/notes');

export function buildGateway(from = process.env.BENCH_FROM ?? 'dist'): GatewayBuild {
  if (from === 'src') {
    return {
      script: 'src/main.ts',
      tsx: true,
      appConfig: join(FIXTURE, 'authgate.config.ts'),
      describe: '`node --import tsx src/main.ts`',
    };
  }
  const built = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
  return {
    script: 'dist/main.js',
    tsx: false,
    appConfig: compileApp(join(ROOT, 'bench/tmp/notes')),
    describe: '`node dist/main.js`, the output of `npm run build`',
  };
}

/** The notes app as JavaScript in `dir`, importing authgate from dist/; returns its config file. */
function compileApp(dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const dist = pathToFileURL(join(ROOT, 'dist')).href;
  for (const file of readdirSync(FIXTURE).filter((f) => f.endsWith('.ts') && f !== 'drizzle.config.ts')) {
    const { outputText } = ts.transpileModule(readFileSync(join(FIXTURE, file), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const js = outputText
      .replaceAll("'../../../src/", `'${dist}/`)
      // The config names its GraphQL modules by file.
      .replace(/'\.\/(\w+)\.ts'/g, "'./$1.js'");
    writeFileSync(join(dir, file.replace(/\.ts$/, '.js')), js);
  }
  // A folder's migrations are journaled by its last two path segments (notes/drizzle), so the
  // compiled app and the sources the round-trip count loads share one journal.
  cpSync(join(FIXTURE, 'drizzle'), join(dir, 'drizzle'), { recursive: true });
  // The compiled files are ES modules.
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  return join(dir, 'authgate.config.js');
}
