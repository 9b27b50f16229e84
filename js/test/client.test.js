// The JavaScript client (src/) against a real `mesh-tools serve`, beside Python participants.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import WebSocket from 'ws'
import { RoomClient, MeshError, newElementId, schemaModel } from '../src/index.js'
import { startServer, pythonParticipant, waitUntil } from './server.js'

let server
before(async () => { server = await startServer() })
after(async () => { await server?.stop() })

function client (name, options = {}) {
  const { readOnly, ...rest } = options
  return new RoomClient({ url: server.url, room: server.room, token: server.token(name, { readOnly }), WebSocket, ...rest })
}

function element (tag, attributes) {
  const created = new Y.XmlElement(tag)
  created.setAttribute('$id', newElementId())
  for (const [name, value] of Object.entries(attributes)) created.setAttribute(name, value)
  return created
}

const texts = document => document.root?.toArray().map(child => child.getAttribute('text')) ?? []

test('the JS client and a Python participant co-edit, converge, and flush durably', async () => {
  const python = pythonParticipant(server, [server.room, 'co/edit.doc', 'py'])
  await python.next()
  const room = client('js')
  await room.connect()
  try {
    const document = await room.openDocument('co/edit.doc')
    await document.synced
    assert.equal(schemaModel(document.schema).rootTag, 'doc')
    python.send(JSON.stringify({ append: { tag: 'p', attributes: { text: 'from python' } } }))
    await python.next()
    await waitUntil(() => texts(document).includes('from python'), 'the Python edit')
    document.root.push([element('p', { text: 'from js', style: 'bold' })])
    await document.flush()
    const stored = JSON.parse(server.mesh(['room', 'sync', 'show', '--room', server.room, 'co/edit.doc']))
    assert.deepEqual(stored.doc.children.map(child => child.p.text), ['from python', 'from js'])
    python.send(JSON.stringify({ wait: 2 }))
    const seen = JSON.parse(await python.next())
    assert.deepEqual(seen.doc.children.map(child => Object.values(child)[0].text), ['from python', 'from js'])
  } finally {
    await python.stop()
    await room.close()
  }
})

test('schema-breaking edits are reported and repaired', async () => {
  const room = client('breaker')
  await room.connect()
  try {
    const document = await room.openDocument('bad.doc')
    await document.synced
    const rejected = new Promise(resolve => document.on('rejected', resolve))
    document.root.push([element('p', { text: 'fine', colour: 'red' })])
    const violations = await rejected
    assert.equal(violations[0].code, 'unknown_attribute')
    await waitUntil(() => document.root.get(0)?.getAttribute('colour') === undefined, 'the repair')
    assert.equal(document.root.get(0).getAttribute('text'), 'fine')
  } finally {
    await room.close()
  }
})

test('presence: JS and Python participants see who is where', async () => {
  const python = pythonParticipant(server, [server.room, 'here.doc', 'py'])
  await python.next()
  python.send(JSON.stringify({ presence: { user: { name: 'py', role: 'agent' }, element: 'root' } }))
  await python.next()
  const room = client('js-person')
  await room.connect()
  try {
    const document = await room.openDocument('here.doc')
    await document.synced
    const peers = () => [...document.peers.values()]
    await waitUntil(() => peers().some(state => state.user?.name === 'py' && state.element === 'root'), 'py at root')
    document.focus('root')
    python.send(JSON.stringify({ peers: ['js-person'] }))
    const seen = JSON.parse(await python.next())
    assert.deepEqual(seen.find(state => state.user?.name === 'js-person')?.user, { name: 'js-person', role: 'agent' })
  } finally {
    await python.stop()
    await room.close()
  }
})

test('read-only: the document says so and nothing local reaches the server', async () => {
  const writer = client('writer')
  await writer.connect()
  const reader = client('reader', { readOnly: true })
  await reader.connect()
  try {
    const written = await writer.openDocument('ro.doc')
    await written.synced
    written.root.push([element('p', { text: 'original' })])
    await written.flush()
    const read = await reader.openDocument('ro.doc')
    await read.synced
    assert.equal(read.readOnly, true)
    assert.deepEqual(texts(read), ['original'])
    read.root.push([element('p', { text: 'sneaky' })])
    await read.flush()
    written.root.push([element('p', { text: 'later' })])
    await written.flush()
    await waitUntil(() => texts(read).includes('later'), 'the writer\'s later edit')
    const stored = JSON.parse(server.mesh(['room', 'sync', 'show', '--room', server.room, 'ro.doc']))
    assert.deepEqual(stored.doc.children.map(child => child.p.text), ['original', 'later'])
  } finally {
    await reader.close()
    await writer.close()
  }
})

test('a refused token ends the session with the typed error', async () => {
  const room = new RoomClient({ url: server.url, room: server.room, token: 'not-a-jwt', WebSocket })
  await room.connect().catch(() => {})
  await assert.rejects(room.openDocument('x.doc'), error => error instanceof MeshError && error.code === 'unauthorized')
  assert.equal(room.error.code, 'unauthorized')
  const other = new RoomClient({ url: server.url, room: 'elsewhere', token: server.token('x'), WebSocket })
  await other.connect().catch(() => {})
  await assert.rejects(other.openDocument('x.doc'), error => error.code === 'forbidden')
})

test('reconnects with backoff after a server restart, uploads offline edits, and flushes', async () => {
  const room = client('survivor', { maxReconnectDelay: 300 })
  await room.connect()
  const document = await room.openDocument('restart.doc')
  await document.synced
  document.root.push([element('p', { text: 'before' })])
  await document.flush()
  const statuses = []
  room.on('status', status => statuses.push(status.connected))
  server = await server.restart()
  try {
    document.root.push([element('p', { text: 'while away' })])
    await waitUntil(() => room.connected && document.isSynced, 'the resync', 20000)
    await document.flush()
    assert.ok(statuses.includes(false) && statuses.at(-1) === true)
    const stored = JSON.parse(server.mesh(['room', 'sync', 'show', '--room', server.room, 'restart.doc']))
    assert.deepEqual(stored.doc.children.map(child => child.p.text), ['before', 'while away'])
  } finally {
    await room.close()
  }
})
