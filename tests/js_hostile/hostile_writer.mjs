// A JS-Yjs participant that breaks the document layout on purpose, through the wire protocol
// (docs/protocol.md). Usage: node hostile_writer.mjs URL TOKEN PATH
// For each case it edits a copy of its synced replica with Yjs's own API, sends the update on its
// channel, then a sync.flush, and prints one JSON line: {"case", "pushes": [push types or error codes]}.
import WebSocket from 'ws'
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

const [url, token, path] = process.argv.slice(2)
const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } })
const replica = new Y.Doc()
let channel = null
let nextId = 1
const waiting = new Map()
let pushes = []
let synced
const syncedOnce = new Promise(resolve => { synced = resolve })

function frame (message) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, channel)
  encoding.writeUint8Array(encoder, message)
  return encoding.toUint8Array(encoder)
}

function syncMessage (kind, payload) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0) // y-protocols sync
  encoding.writeVarUint(encoder, kind) // 0 step1, 1 step2, 2 update
  encoding.writeVarUint8Array(encoder, payload)
  return encoding.toUint8Array(encoder)
}

function request (type, params) {
  const id = nextId++
  socket.send(JSON.stringify({ id, type, ...params }))
  return new Promise((resolve, reject) => waiting.set(id, { resolve, reject }))
}

socket.on('message', (data, isBinary) => {
  if (!isBinary) {
    const message = JSON.parse(data.toString())
    if (message.id !== undefined) {
      const { resolve, reject } = waiting.get(message.id)
      waiting.delete(message.id)
      if (message.error) reject(new Error(message.error.code))
      else resolve(message.result)
    } else {
      pushes.push(message.type === 'error' ? message.error.code : message.type)
    }
    return
  }
  const decoder = decoding.createDecoder(new Uint8Array(data))
  decoding.readVarUint(decoder) // our channel
  if (decoding.readVarUint(decoder) !== 0) return // awareness
  const kind = decoding.readVarUint(decoder)
  const payload = decoding.readVarUint8Array(decoder)
  if (kind === 0) {
    socket.send(frame(syncMessage(1, Y.encodeStateAsUpdate(replica, payload))))
  } else {
    Y.applyUpdate(replica, payload, 'server')
    if (kind === 1) synced()
  }
})

// Each case edits a fresh copy of the replica; returns nothing, the update is the copy's diff.
const cases = {
  'delete the root': (doc) => doc.getXmlFragment('mesh').delete(0, 1),
  'second root before the real one': (doc) => {
    const imposter = new Y.XmlElement('doc')
    imposter.setAttribute('$id', 'root')
    doc.getXmlFragment('mesh').insert(0, [imposter])
  },
  'second root after the real one': (doc) => {
    const fragment = doc.getXmlFragment('mesh')
    fragment.insert(fragment.length, [new Y.XmlElement('doc')])
  },
  'rename the root': (doc) => doc.getXmlFragment('mesh').get(0).setAttribute('$id', 'hijacked'),
  'text node': (doc) => doc.getXmlFragment('mesh').get(0).insert(0, [new Y.XmlText('hidden')]),
  // Into an element the server already holds: the update names it only by its item id.
  'a plain value into an honest element': (doc) => doc.getXmlFragment('mesh').get(0).get(0).insert(0, ['plain']),
  'characters into an honest element': (doc) => {
    // Y.Text's own insert, run on an element: ContentString straight among the element's children.
    Y.Text.prototype.insert.call(doc.getXmlFragment('mesh').get(0).get(0), 0, 'hidden')
  },
  'an element as an honest element\'s attribute': (doc) => {
    doc.getXmlFragment('mesh').get(0).get(0).setAttribute('title', new Y.XmlElement('p'))
  },
  'top-level map': (doc) => doc.getMap('side').set('payload', 'x'.repeat(1000)),
  'top-level text': (doc) => doc.getText('notes').insert(0, 'hidden'),
  'unknown element': (doc) => {
    const element = new Y.XmlElement('script')
    element.setAttribute('$id', 'evil0001')
    doc.getXmlFragment('mesh').get(0).insert(0, [element])
  },
  'null attribute': (doc) => doc.getXmlFragment('mesh').get(0).get(0).setAttribute('text', null),
  'rename an honest element to another one\'s id': (doc) => {
    const root = doc.getXmlFragment('mesh').get(0)
    root.get(0).setAttribute('$id', root.get(1).getAttribute('$id'))
  },
  'remove an honest element\'s id': (doc) => doc.getXmlFragment('mesh').get(0).get(1).removeAttribute('$id'),
  'elements nested 700 deep': (doc) => {
    let parent = doc.getXmlFragment('mesh').get(0).get(0) // under an honest <p>, which takes no children
    for (let depth = 0; depth < 700; depth++) {
      const child = new Y.XmlElement('p')
      child.setAttribute('$id', `deep${depth}`)
      parent.insert(0, [child])
      parent = child
    }
  }
}

socket.on('open', async () => {
  try {
    channel = (await request('sync.open', { path, create: false })).channel
    socket.send(frame(syncMessage(0, Y.encodeStateVector(replica))))
    await syncedOnce
    for (const [name, edit] of Object.entries(cases)) {
      const copy = new Y.Doc()
      Y.applyUpdate(copy, Y.encodeStateAsUpdate(replica))
      const before = Y.encodeStateVector(copy)
      edit(copy)
      pushes = []
      socket.send(frame(syncMessage(2, Y.encodeStateAsUpdate(copy, before))))
      await request('sync.flush', { channel })
      process.stdout.write(JSON.stringify({ case: name, pushes }) + '\n')
    }
    socket.close()
  } catch (error) {
    process.stderr.write(`hostile writer failed: ${error.stack}\n`)
    process.exit(1)
  }
})
