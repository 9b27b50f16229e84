// Stock y-websocket (npm) against the server's one-document route, co-editing with a Python participant.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import WebSocket from 'ws'
import { startServer, pythonParticipant, waitUntil } from './server.js'

let server
before(async () => { server = await startServer() })
after(async () => { await server?.stop() })

function connect (path, token, options = {}) {
  const doc = new Y.Doc()
  const provider = new WebsocketProvider(`${server.url}/rooms/${server.room}/docs`, encodeURIComponent(path), doc, {
    WebSocketPolyfill: WebSocket, params: { token }, disableBc: true, ...options
  })
  return { doc, provider }
}

const root = doc => doc.getXmlFragment('mesh').get(0)
const texts = doc => root(doc)?.toArray().map(element => element.getAttribute('text')) ?? []

function newElement (tag, attributes) {
  const element = new Y.XmlElement(tag)
  element.setAttribute('$id', Math.random().toString(32).slice(2, 10).padEnd(8, 'a'))
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value)
  return element
}

test('y-websocket and a Python participant co-edit one document and converge', async () => {
  const python = pythonParticipant(server, [server.room, 'shared/plan.doc', 'py'])
  await python.next()
  python.send(JSON.stringify({ append: { tag: 'p', attributes: { text: 'from python' } } }))
  await python.next()
  const { doc, provider } = connect('shared/plan.doc', server.token('node'))
  try {
    await new Promise(resolve => provider.once('sync', resolve))
    await waitUntil(() => texts(doc).includes('from python'), 'the Python edit')
    root(doc).push([newElement('p', { text: 'from y-websocket' })])
    python.send(JSON.stringify({ wait: 2 }))
    const seen = JSON.parse(await python.next())
    assert.deepEqual(seen.doc.children.map(child => child.p.text), ['from python', 'from y-websocket'])
    // A schema-breaking edit is repaired by the server; the repair arrives as an ordinary update.
    root(doc).push([newElement('script', {})])
    await waitUntil(() => root(doc).length === 2, 'the repair')
  } finally {
    provider.destroy()
    doc.destroy()
    await python.stop()
  }
})

test('a refused token closes with 44xx and a readable reason, and y-websocket stops retrying', async () => {
  const { doc, provider } = connect('x.doc', 'not-a-jwt')
  const closes = []
  provider.on('connection-close', event => closes.push(event))
  await waitUntil(() => closes.length > 0, 'the close')
  assert.equal(closes[0].code, 4401)
  assert.match(closes[0].reason, /^unauthorized: /)
  await new Promise(resolve => setTimeout(resolve, 500))
  assert.equal(closes.length, 1, 'no reconnect after a 44xx close')
  assert.equal(provider.shouldConnect, false)
  provider.destroy()
  doc.destroy()
})

test('a read-only participant gets permission-denied, stays connected, and changes nothing', async () => {
  const writer = connect('ro.doc', server.token('writer'))
  await new Promise(resolve => writer.provider.once('sync', resolve))
  root(writer.doc).push([newElement('p', { text: 'original' })])
  const reader = connect('ro.doc', server.token('reader', { readOnly: true }))
  const warnings = []
  const warn = console.warn
  console.warn = message => warnings.push(String(message))
  try {
    await new Promise(resolve => reader.provider.once('sync', resolve))
    await waitUntil(() => texts(reader.doc).includes('original'), 'the reader sync')
    root(reader.doc).push([newElement('p', { text: 'sneaky' })])
    await waitUntil(() => warnings.some(w => w.includes('Permission denied')), 'the permission-denied message')
    assert.ok(warnings.some(w => w.includes('may only read')))
    root(writer.doc).push([newElement('p', { text: 'later' })])
    await waitUntil(() => texts(reader.doc).includes('later'), 'updates after the refusal')
    assert.equal(reader.provider.wsconnected, true)
    assert.deepEqual(texts(writer.doc), ['original', 'later'])
  } finally {
    console.warn = warn
    for (const { doc, provider } of [reader, writer]) { provider.destroy(); doc.destroy() }
  }
})

test('presence: a joiner sees existing states at once, Python and Yjs participants see each other', async () => {
  const first = connect('here.doc', server.token('ann'))
  first.provider.awareness.setLocalStateField('user', { name: 'ann', role: 'person' })
  await new Promise(resolve => first.provider.once('sync', resolve))
  const python = pythonParticipant(server, [server.room, 'here.doc', 'py'])
  await python.next()
  const joiner = connect('here.doc', server.token('bob'))
  const names = () => [...joiner.provider.awareness.getStates().values()].map(state => state.user?.name)
  try {
    const started = Date.now()
    await waitUntil(() => names().includes('ann') && names().includes('py'), 'ann and py in the joiner')
    assert.ok(Date.now() - started < 3000, 'well before the 15 s renewal')
    python.send(JSON.stringify({ peers: ['ann'] }))
    const peers = JSON.parse(await python.next())
    assert.ok(peers.some(state => state.user?.name === 'ann'), JSON.stringify(peers))
  } finally {
    await python.stop()
    for (const { doc, provider } of [joiner, first]) { provider.destroy(); doc.destroy() }
  }
})
