// Headless Debian chromium (never a downloaded browser) driven by playwright-core, for the page tests.
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium } from 'playwright-core'

export const CHROMIUM = process.env.MESH_TOOLS_CHROMIUM ?? '/usr/bin/chromium'

/** Why the browser tests cannot run here, or null; under CI=true a missing browser is a failure instead. */
export function browserMissing () {
  if (existsSync(CHROMIUM)) return null
  if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: scripts/install-test-deps.sh installs it`)
  return `${CHROMIUM} is missing (install Debian's chromium, or run make deps as root)`
}

/** A fresh headless browser with its own profile; `close()` removes the profile. */
export async function launchBrowser () {
  const profile = mkdtempSync(join(tmpdir(), 'mesh-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 800 }
  })
  return {
    context,
    newPage: () => context.newPage(),
    close: async () => { await context.close(); rmSync(profile, { recursive: true, force: true }) }
  }
}
