// A real `mesh-tools serve` on loopback for the Node tests, with tokens minted by `mesh-tools token`.
import { spawn, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
/** The project's virtualenv, or MESH_TOOLS_PYTHON. */
export const PYTHON = process.env.MESH_TOOLS_PYTHON ?? resolve(here, '../../.venv/bin/python')
export const SCHEMA_FILE = join(here, 'fixtures', 'doc.schema.json')
const SECRET = 'node-tests-secret-0123456789abcdef0123456789'

/**
 * Start `mesh-tools serve --port 0` and return { url, token(name, options), mesh(args), stop() }.
 * `mesh(args)` runs a mesh-tools command against it and returns its stdout.
 */
export async function startServer ({ room = 'lab', args = [], port = 0, dataDir = null } = {}) {
  const fresh = dataDir === null
  dataDir ??= mkdtempSync(join(tmpdir(), 'mesh-node-'))
  const env = { ...process.env, MESH_TOOLS_SECRET: SECRET }
  const child = spawn(PYTHON, ['-m', 'mesh_tools', 'serve', '--port', String(port), '--data-dir', dataDir, ...args], {
    env, stdio: ['ignore', 'pipe', 'inherit']
  })
  const url = await new Promise((resolve, reject) => {
    child.once('exit', code => reject(new Error(`mesh-tools serve exited with ${code}`)))
    createInterface({ input: child.stdout }).once('line', resolve)
  })
  const mesh = (commandArgs, extraEnv = {}) => execFileSync(PYTHON, ['-m', 'mesh_tools', ...commandArgs], {
    env: { ...env, MESH_TOOLS_URL: url, ...extraEnv }, encoding: 'utf8'
  })
  const token = (name, { readOnly = false, paths = [], tokenRoom = room, role = 'agent' } = {}) => mesh([
    'token', '--room', tokenRoom, '--name', name, '--role', role, ...(readOnly ? ['--read-only'] : []),
    ...paths.flatMap(path => ['--path', path])
  ]).trim()
  if (fresh) mesh(['room', 'schema', 'put', '--room', room, 'doc', SCHEMA_FILE])
  /** SIGTERM (graceful: clients see 1012); `keepData` leaves the database for a restart. */
  const stop = async ({ keepData = false } = {}) => {
    const exited = new Promise(resolve => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    if (!keepData) rmSync(dataDir, { recursive: true, force: true })
  }
  const restart = async () => {
    await stop({ keepData: true })
    return startServer({ room, args, port: Number(new URL(url).port), dataDir })
  }
  return { url, room, dataDir, token, mesh, stop, restart, env: { ...env, MESH_TOOLS_URL: url } }
}

/** Run a Python participant (test/participant.py) that edits and reads through mesh_tools.client. */
export function pythonParticipant (server, args) {
  const child = spawn(PYTHON, [join(here, 'participant.py'), ...args], {
    env: server.env, stdio: ['pipe', 'pipe', 'inherit']
  })
  const lines = createInterface({ input: child.stdout })
  const queue = []
  const waiters = []
  let exitCode = null
  lines.on('line', line => {
    const waiter = waiters.shift()
    if (waiter) waiter.resolve(line); else queue.push(line)
  })
  child.once('exit', code => {
    exitCode = code
    for (const waiter of waiters.splice(0)) waiter.reject(new Error(`participant ${args.join(' ')} exited with ${code}`))
  })
  return {
    /** The next line the participant printed (JSON); rejects if it exits or stays silent for 30 s. */
    next: () => {
      if (queue.length) return Promise.resolve(queue.shift())
      if (exitCode !== null) return Promise.reject(new Error(`participant ${args.join(' ')} exited with ${exitCode}`))
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`participant ${args.join(' ')} said nothing for 30 s`)), 30000)
        waiters.push({
          resolve: line => { clearTimeout(timer); resolve(line) },
          reject: error => { clearTimeout(timer); reject(error) }
        })
      })
    },
    send: line => child.stdin.write(line + '\n'),
    /** End its input: it closes the document (flushing) and exits. */
    stop: () => {
      if (exitCode !== null) return Promise.resolve(exitCode)
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.stdin.end()
      return exited
    }
  }
}

/** Poll until `condition()` holds; the ceiling only turns a hang into a failure. */
export async function waitUntil (condition, what = 'condition', timeout = 15000) {
  const deadline = Date.now() + timeout
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
