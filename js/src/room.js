// RoomClient: one WebSocket per room (docs/protocol.md), requests with ids, a channel per open document,
// reconnects with backoff and resyncs every open document by state vector.
import { MeshDocument } from './document.js'
import { MeshError, readBinaryFrame, tokenIdentity } from './protocol.js'

const FIRST_RETRY_DELAY = 100 // ms; doubles per failed attempt, with full jitter

export class RoomClient {
  /**
   * @param {object} options
   * @param {string} options.url  the server, `ws://HOST:PORT`
   * @param {string} options.room  the room name
   * @param {string} options.token  a participant token (JWT)
   */
  constructor ({ url, room, token, WebSocket = globalThis.WebSocket, requestTimeout = 30000, maxReconnectDelay = 5000 }) {
    if (!WebSocket) throw new TypeError('no WebSocket implementation: pass one (in Node: `import WebSocket from "ws"`)')
    this.url = `${url.replace(/\/$/, '')}/rooms/${encodeURIComponent(room)}?token=${encodeURIComponent(token)}`
    this.room = room
    this.requestTimeout = requestTimeout
    this.maxReconnectDelay = maxReconnectDelay
    /** Who this participant is, as its presence says: `{ name, role }` from the token. */
    this.user = tokenIdentity(token)
    /** Why the session ended for good (a refused or expired token), else null. */
    this.error = null
    this.connected = false
    this._WebSocket = WebSocket
    this._socket = null
    this._nextId = 1
    this._pending = new Map() // id → { resolve, reject, onResult }
    this._documents = new Map() // path → MeshDocument
    this._channels = new Map() // channel → MeshDocument
    this._waiters = new Set()
    this._listeners = { status: new Set() }
    this._closing = false
    this._attempts = 0
    this._retryTimer = null
  }

  /**
   * Connect. A refused token (retrying cannot fix that) ends the session: the first request, or this
   * promise if the refusal comes as an HTTP status (programs), rejects with the typed MeshError.
   */
  async connect () {
    await this._open()
  }

  /** `on('status', listener)`: called with `{ connected, error }` whenever the link goes up or down. */
  on (event, listener) {
    this._listeners[event].add(listener)
    return () => this._listeners[event].delete(listener)
  }

  /** Send a request and resolve with its result; rejects with the typed MeshError it came back with. */
  request (type, params = {}, { onResult = null, timeout = this.requestTimeout } = {}) {
    if (this.error) return Promise.reject(this.error)
    if (!this.connected) return Promise.reject(new MeshError('disconnected', `not connected to room ${this.room}`))
    const id = this._nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(id)
        reject(new MeshError('timeout', `${type} got no answer within ${timeout} ms`))
      }, timeout)
      this._pending.set(id, {
        onResult,
        resolve: value => { clearTimeout(timer); resolve(value) },
        reject: error => { clearTimeout(timer); reject(error) }
      })
      this._socket.send(JSON.stringify({ id, type, ...params }))
    })
  }

  /** Open (by default creating) the document at `path` and keep it in sync; one MeshDocument per path. */
  async openDocument (path, { create = true } = {}) {
    const open = this._documents.get(path)
    if (open) return open
    const document = new MeshDocument(this, path, { create, user: this.user })
    this._documents.set(path, document)
    try {
      await this._openChannel(document)
    } catch (error) {
      // Between connections: the next one opens it, and `synced` resolves then.
      if (error.code === 'disconnected' && this.error === null && !this._closing) return document
      this._forget(document)
      document._release()
      throw error
    }
    return document
  }

  listDocuments () { return this.request('sync.list').then(result => result.paths) }
  describe (path) { return this.request('sync.describe', { path }).then(result => result.json) }
  createDocument (path, { json = null, schema = null } = {}) { return this.request('sync.create', { path, json, schema }) }
  putSchema (name, schema) { return this.request('schema.put', { name, schema }) }
  listSchemas () { return this.request('schema.list').then(result => result.names) }

  /** Flush and close every open document, then the socket. */
  async close () {
    await Promise.allSettled([...this._documents.values()].map(document => document.close()))
    this._closing = true
    clearTimeout(this._retryTimer)
    this._socket?.close(1000, 'client closed')
  }

  // -- connection -------------------------------------------------------------------------------

  _open () {
    return new Promise((resolve, reject) => {
      const socket = new this._WebSocket(this.url)
      socket.binaryType = 'arraybuffer'
      let opened = false
      socket.onopen = () => {
        opened = true
        this._socket = socket
        this.connected = true
        this._attempts = 0
        this._emitStatus()
        for (const document of this._documents.values()) {
          if (document.error === null) this._openChannel(document).catch(error => this._reopenFailed(document, error))
        }
        resolve()
      }
      socket.onmessage = event => this._receive(event.data)
      socket.onclose = event => {
        if (this._socket === socket) this._socket = null
        // 44xx: the server refused the token or the room (docs/protocol.md); it will not change its mind.
        if (event.code >= 4400 && event.code < 4500) this.error = MeshError.fromClose(event.code, event.reason)
        this._dropped(event)
        if (this.error) {
          this._end(this.error)
          reject(this.error)
          return
        }
        if (!opened) reject(new MeshError('disconnected', `cannot connect to ${this.url.split('?')[0]}`))
        if (!this._closing) this._scheduleReconnect()
      }
      socket.onerror = () => {} // the close event that follows says what happened
    })
  }

  _dropped (event) {
    this.connected = false
    const error = this.error ?? new MeshError('disconnected', `the connection closed (${event.code} ${event.reason ?? ''})`.trim())
    for (const pending of this._pending.values()) pending.reject(error)
    this._pending.clear()
    this._channels.clear()
    for (const document of this._documents.values()) document._detach()
    this._emitStatus()
    this._progress()
  }

  _scheduleReconnect () {
    const ceiling = Math.min(this.maxReconnectDelay, FIRST_RETRY_DELAY * 2 ** this._attempts++)
    this._retryTimer = setTimeout(() => {
      this._open().catch(() => {}) // a failed attempt schedules the next one from its close handler
    }, Math.random() * ceiling)
  }

  _end (error) {
    this.error = error
    for (const document of this._documents.values()) document._fail(error)
    this._emitStatus()
  }

  _emitStatus () {
    for (const listener of this._listeners.status) listener({ connected: this.connected, error: this.error })
  }

  // -- frames -----------------------------------------------------------------------------------

  _send (frame) {
    this._socket?.send(frame)
  }

  _receive (data) {
    if (typeof data === 'string') {
      const message = JSON.parse(data)
      if ('id' in message) {
        const pending = this._pending.get(message.id)
        if (!pending) return
        this._pending.delete(message.id)
        if (message.error) { pending.reject(MeshError.fromJSON(message.error)); return }
        try {
          pending.onResult?.(message.result) // before the next frame, which may be on the new channel
          pending.resolve(message.result)
        } catch (error) {
          pending.reject(error)
        }
        return
      }
      this._push(message)
      return
    }
    const { channel, decoder } = readBinaryFrame(data)
    this._channels.get(channel)?._receive(decoder)
  }

  _push (message) {
    const document = this._channels.get(message.channel)
    if (message.type === 'sync.rejected') document?._rejected(message.violations ?? [])
    else if (message.type === 'sync.closed' && document) {
      this._channels.delete(message.channel)
      document._fail(MeshError.fromJSON(message.error))
    } else if (message.type === 'error') {
      console.warn(`mesh-tools: the server refused a frame: ${message.error?.message}`)
    }
  }

  // -- documents --------------------------------------------------------------------------------

  _openChannel (document) {
    return this.request('sync.open', { path: document.path, create: document.create }, {
      onResult: result => {
        if (this._documents.get(document.path) !== document) {
          this.request('sync.close', { channel: result.channel }).catch(() => {})
          return
        }
        try {
          document._attach(result)
        } catch (error) {
          this.request('sync.close', { channel: result.channel }).catch(() => {})
          throw error
        }
        this._channels.set(result.channel, document)
      }
    })
  }

  _reopenFailed (document, error) {
    if (error.code === 'disconnected') return // the next connection tries again
    document._fail(error)
  }

  /** Send `type` (sync.flush or sync.close) once every local edit went out; repeated through drops. */
  async _deliver (document, type) {
    const deadline = Date.now() + this.requestTimeout
    for (;;) {
      await this._waitFor(() => document.error !== null || (document.channel !== null && document._answered), deadline)
      if (document.error) throw document.error
      try {
        await this.request(type, { channel: document.channel }, { timeout: Math.max(1, deadline - Date.now()) })
        return
      } catch (error) {
        if (error.code !== 'disconnected') throw error
      }
    }
  }

  _waitFor (condition, deadline) {
    if (condition()) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!condition()) return
        clearTimeout(timer)
        this._waiters.delete(waiter)
        resolve()
      }
      const timer = setTimeout(() => {
        this._waiters.delete(waiter)
        reject(new MeshError('timeout', 'local changes were not confirmed in time', 'the client keeps trying'))
      }, Math.max(1, deadline - Date.now()))
      this._waiters.add(waiter)
    })
  }

  _progress () {
    for (const waiter of [...this._waiters]) waiter()
  }

  _forget (document) {
    if (this._documents.get(document.path) === document) this._documents.delete(document.path)
    if (document.channel !== null) this._channels.delete(document.channel)
  }
}
