// .ci/add-debian-backports on copies of apt configurations: it takes bookworm-backports from the mirror (and
// keyring, and options) the machine already uses, never a hard-coded one, and apt itself must accept what it
// writes (checked with `apt-get indextargets` on the result).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../.ci/add-debian-backports', import.meta.url));
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A fresh apt directory holding `files` (paths relative to it). */
async function aptDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'maxsim-apt-'));
  dirs.push(dir);
  await mkdir(join(dir, 'sources.list.d'));
  for (const [path, text] of Object.entries(files)) await writeFile(join(dir, path), text);
  return dir;
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

/** What apt makes of a configuration: "TYPE SUITE COMPONENT URI" per index target. */
async function aptTargets(dir: string): Promise<string[]> {
  const { code, stdout, stderr } = await run('apt-get', [
    '-o',
    `Dir::Etc=${dir}`,
    '--no-release-info',
    'indextargets',
    '--format',
    '$(TARGET_OF) $(RELEASE) $(COMPONENT) $(REPO_URI)',
  ]);
  expect(code, stderr).toBe(0);
  return [...new Set(stdout.trim().split('\n'))];
}

const DEBIAN_SOURCES = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;

describe('.ci/add-debian-backports', () => {
  it('a stock Debian 12 (deb822 debian.sources): the same mirror and keyring, which apt accepts', async () => {
    const dir = await aptDir({ 'sources.list.d/debian.sources': DEBIAN_SOURCES });
    const { code, stdout } = await run(SCRIPT, [dir]);
    expect(code).toBe(0);
    expect(stdout.trim().split('\n')).toHaveLength(1);
    const written = await readFile(join(dir, 'sources.list.d/bookworm-backports.sources'), 'utf8');
    expect(written).toMatch(/^URIs: http:\/\/deb\.debian\.org\/debian\/$/m);
    expect(written).toMatch(/^Suites: bookworm-backports$/m);
    expect(written).toMatch(/^Signed-By: \/usr\/share\/keyrings\/debian-archive-keyring\.gpg$/m);
    expect(await aptTargets(dir)).toContain('deb bookworm-backports main http://deb.debian.org/debian/');
  });

  it('a local mirror in a one-line sources.list, with options: its URI and [options], never deb.debian.org', async () => {
    const dir = await aptDir({
      'sources.list': [
        '# deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main',
        'deb cdrom:[Debian GNU/Linux 12.5.0 _Bookworm_]/ bookworm main',
        '',
        'deb [check-valid-until=no] http://snapshot.debian.org/archive/debian/20250520T000000Z bookworm main contrib',
        'deb http://security.debian.org/debian-security bookworm-security main',
        '',
      ].join('\n'),
    });
    const { code } = await run(SCRIPT, [dir]);
    expect(code).toBe(0);
    const written = await readFile(join(dir, 'sources.list.d/bookworm-backports.list'), 'utf8');
    expect(written).toMatch(
      /^deb \[check-valid-until=no\] http:\/\/snapshot\.debian\.org\/archive\/debian\/20250520T000000Z\/ bookworm-backports main$/m,
    );
    expect(written).not.toMatch(/deb\.debian\.org/);
    expect(await aptTargets(dir)).toContain(
      'deb bookworm-backports main http://snapshot.debian.org/archive/debian/20250520T000000Z/',
    );
  });

  it("prefers the source signed by Debian's keyring over a third-party one that also names bookworm", async () => {
    const dir = await aptDir({
      'sources.list.d/docker.list':
        'deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm main\n',
      'sources.list.d/microsoft.sources':
        'Types: deb\nURIs: https://packages.microsoft.com/debian/12/prod\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/microsoft-prod.gpg\n',
      'sources.list.d/mirror.sources': DEBIAN_SOURCES.replaceAll('deb.debian.org', 'mirror.internal:3142'),
    });
    const { code } = await run(SCRIPT, [dir]);
    expect(code).toBe(0);
    const written = await readFile(join(dir, 'sources.list.d/bookworm-backports.sources'), 'utf8');
    expect(written).toMatch(/^URIs: http:\/\/mirror\.internal:3142\/debian\/$/m);
  });

  it('copies the other fields of a deb822 entry as written: an inline key, Check-Valid-Until, Architectures', async () => {
    const key = [
      'Signed-By:',
      ' -----BEGIN PGP PUBLIC KEY BLOCK-----',
      ' .',
      ' mQINBGPL',
      ' -----END PGP PUBLIC KEY BLOCK-----',
    ];
    const dir = await aptDir({
      'sources.list.d/debian.sources': [
        'Types: deb deb-src',
        'URIs: http://mirror.example/debian',
        'Suites: bookworm',
        'Components: main non-free-firmware',
        'Architectures: amd64',
        'Check-Valid-Until: no',
        ...key,
        '',
      ].join('\n'),
    });
    const { code } = await run(SCRIPT, [dir]);
    expect(code).toBe(0);
    const written = await readFile(join(dir, 'sources.list.d/bookworm-backports.sources'), 'utf8');
    expect(written).toContain(['Architectures: amd64', 'Check-Valid-Until: no', ...key].join('\n'));
    expect(written).toMatch(/^Types: deb$/m);
    expect(written).toMatch(/^Components: main$/m);
    expect(await aptTargets(dir)).toContain('deb bookworm-backports main http://mirror.example/debian/');
  });

  it('fails with one clear line, writing nothing, when no Debian 12 source is configured', async () => {
    const disabled = await aptDir({
      'sources.list.d/debian.sources': `${DEBIAN_SOURCES.split('\n\n')[0]}\nEnabled: no\n\n${DEBIAN_SOURCES.split('\n\n')[1]}`,
    });
    const empty = await aptDir({});
    for (const dir of [disabled, empty]) {
      const { code, stdout, stderr } = await run(SCRIPT, [dir]);
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/no Debian 12 \(bookworm\) source .* configure apt for Debian 12 first/);
      expect(await readdir(join(dir, 'sources.list.d'))).not.toContain('bookworm-backports.sources');
    }
  });

  it('leaves a configuration that already has bookworm-backports alone (a commented-out line does not count)', async () => {
    const present = await aptDir({
      'sources.list.d/debian.sources': DEBIAN_SOURCES,
      'sources.list': 'deb http://deb.debian.org/debian bookworm-backports main\n',
    });
    const { code, stdout } = await run(SCRIPT, [present]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/already configured/);
    expect(existsSync(join(present, 'sources.list.d/bookworm-backports.sources'))).toBe(false);

    const commented = await aptDir({
      'sources.list.d/debian.sources': DEBIAN_SOURCES,
      'sources.list': '# deb http://deb.debian.org/debian bookworm-backports main\n',
    });
    expect((await run(SCRIPT, [commented])).stdout).toMatch(/added bookworm-backports/);
    expect(existsSync(join(commented, 'sources.list.d/bookworm-backports.sources'))).toBe(true);
  });
});
