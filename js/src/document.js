// One open document: its Y.Doc and presence, kept in sync on a channel of the room's socket.
import * as Y from 'yjs'
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import {
  EMPTY_UPDATE, MESSAGE_AWARENESS, MESSAGE_SYNC, MeshError, SYNC_STEP1, SYNC_STEP2, SYNC_UPDATE, binaryFrame
} from './protocol.js'
import { FRAGMENT_NAME } from './schema.js'

/** Transaction origin of what came from the server: everything else is local and goes out. */
const FROM_SERVER = Symbol('mesh-tools server')

export class MeshDocument {
  /** Made by RoomClient.openDocument; `user` is this participant's presence identity. */
  constructor (room, path, { create, user }) {
    this.room = room
    this.path = path
    this.create = create
    /** The Yjs document: the layout is docs/document-layout.md (fragment "mesh", one root element). */
    this.doc = new Y.Doc()
    /** Presence (y-protocols Awareness); the local state is `{ user: { name, role }, element }`. */
    this.awareness = new awarenessProtocol.Awareness(this.doc)
    this.awareness.setLocalState({ user, element: null })
    /** The schema JSON the server holds for this document (set by the first open). */
    this.schema = null
    /** True when the token may only read this path: local edits are not sent (the server would refuse). */
    this.readOnly = false
    this.epoch = null
    /** Every `sync.rejected` the server sent for this client's edits: `{ code, message, element_id }[]`. */
    this.rejections = []
    /** Why syncing stopped for good (the document was replaced, closed by the server), else null. */
    this.error = null
    this.channel = null
    this.isSynced = false
    this._listeners = { rejected: new Set(), synced: new Set(), closed: new Set() }
    this._closed = false
    let resolveSynced, rejectSynced
    /** Resolves once the document holds everything the server had at the first handshake. */
    this.synced = new Promise((resolve, reject) => { resolveSynced = resolve; rejectSynced = reject })
    this.synced.catch(() => {})
    this._resolveSynced = resolveSynced
    this._rejectSynced = rejectSynced
    this._onUpdate = (update, origin) => {
      if (origin !== FROM_SERVER && this.channel !== null && !this.readOnly) {
        this.room._send(binaryFrame(this.channel, encoder => {
          encoding.writeVarUint(encoder, MESSAGE_SYNC)
          encoding.writeVarUint(encoder, SYNC_UPDATE)
          encoding.writeVarUint8Array(encoder, update)
        }))
      }
    }
    this._onAwareness = ({ added, updated, removed }, origin) => {
      if (origin === 'local' && this.channel !== null) this._sendPresence()
    }
    this.doc.on('update', this._onUpdate)
    this.awareness.on('update', this._onAwareness)
  }

  /** The root element (an Y.XmlElement), once synced; undefined before. */
  get root () {
    return this.doc.getXmlFragment(FRAGMENT_NAME).get(0)
  }

  /** Say which element this participant works on (null: none); everyone sees it at once. */
  focus (elementId) {
    const state = this.awareness.getLocalState()
    if (state && state.element !== elementId) this.awareness.setLocalState({ ...state, element: elementId })
  }

  /** The presence of everyone else: Map of awareness client id → state. */
  get peers () {
    const states = new Map(this.awareness.getStates())
    states.delete(this.doc.clientID)
    return states
  }

  /** `on('rejected' | 'synced' | 'closed', listener)`; returns a function that removes the listener. */
  on (event, listener) {
    this._listeners[event].add(listener)
    return () => this._listeners[event].delete(listener)
  }

  /** Resolves once the server has durably stored every local edit made before the call. */
  async flush () {
    if (this.readOnly) return
    await this.room._deliver(this, 'sync.flush')
  }

  /** Flush, release the channel and stop syncing; the Y.Doc stays readable. */
  async close () {
    if (this._closed) return
    try {
      if (!this.readOnly && this.error === null) await this.room._deliver(this, 'sync.close')
      else if (this.channel !== null) this.room.request('sync.close', { channel: this.channel }).catch(() => {})
    } finally {
      this._release()
      this.room._forget(this)
    }
  }

  // -- driven by RoomClient ---------------------------------------------------------------------

  _attach (result) {
    if (this.epoch !== null && result.epoch !== this.epoch) {
      throw new MeshError('document_not_found', `${this.path} was replaced on the server; this copy cannot be merged`,
        'close the document and open it again')
    }
    this.epoch = result.epoch
    this.schema = result.schema
    this.readOnly = Boolean(result.read_only)
    this.channel = result.channel
    this._answered = false
    // Whoever is still here comes in the server's snapshot, at clocks we may have seen: forget them.
    const others = [...this.awareness.meta.keys()].filter(client => client !== this.doc.clientID)
    awarenessProtocol.removeAwarenessStates(this.awareness, others, 'reconnect')
    for (const client of others) this.awareness.meta.delete(client)
    this.room._send(binaryFrame(this.channel, encoder => {
      encoding.writeVarUint(encoder, MESSAGE_SYNC)
      encoding.writeVarUint(encoder, SYNC_STEP1)
      encoding.writeVarUint8Array(encoder, Y.encodeStateVector(this.doc))
    }))
    // A new clock: the server removed this client for everyone at the old one when the link dropped.
    this.awareness.setLocalState(this.awareness.getLocalState())
  }

  _detach () {
    this.channel = null
    this._answered = false
    this.isSynced = false
  }

  _receive (decoder) {
    const type = decoding.readVarUint(decoder)
    if (type === MESSAGE_AWARENESS) {
      awarenessProtocol.applyAwarenessUpdate(this.awareness, decoding.readVarUint8Array(decoder), FROM_SERVER)
      return
    }
    if (type !== MESSAGE_SYNC) return
    const kind = decoding.readVarUint(decoder)
    const payload = decoding.readVarUint8Array(decoder)
    if (kind === SYNC_STEP1) {
      // Our Step2: everything the server lacks, edits made while disconnected included.
      const missing = this.readOnly ? EMPTY_UPDATE : Y.encodeStateAsUpdate(this.doc, payload)
      this.room._send(binaryFrame(this.channel, encoder => {
        encoding.writeVarUint(encoder, MESSAGE_SYNC)
        encoding.writeVarUint(encoder, SYNC_STEP2)
        encoding.writeVarUint8Array(encoder, missing)
      }))
      this._answered = true
      this.room._progress()
      return
    }
    Y.applyUpdate(this.doc, payload, FROM_SERVER)
    if (kind === SYNC_STEP2) {
      this.isSynced = true
      this._resolveSynced()
      this._emit('synced')
    }
  }

  _rejected (violations) {
    this.rejections.push(...violations)
    this._emit('rejected', violations)
  }

  _fail (error) {
    this.error = error
    this._detach()
    this._rejectSynced(error)
    this._emit('closed', error)
    this.room._progress()
  }

  _release () {
    this._closed = true
    this._detach()
    this.doc.off('update', this._onUpdate)
    this.awareness.off('update', this._onAwareness)
    this.awareness.destroy()
  }

  _sendPresence () {
    const update = awarenessProtocol.encodeAwarenessUpdate(this.awareness, [this.doc.clientID])
    this.room._send(binaryFrame(this.channel, encoder => {
      encoding.writeVarUint(encoder, MESSAGE_AWARENESS)
      encoding.writeVarUint8Array(encoder, update)
    }))
  }

  _emit (event, value) {
    for (const listener of this._listeners[event]) {
      try { listener(value) } catch (error) { console.error(`mesh-tools: a ${event} listener failed`, error) }
    }
  }
}
