// The wire format of docs/protocol.md: JSON text frames, and binary frames `varUint(channel) • y-message`.
import * as encoding from 'lib0/encoding'
import * as decoding from 'lib0/decoding'

/** y-protocols message types. */
export const MESSAGE_SYNC = 0
export const MESSAGE_AWARENESS = 1
export const MESSAGE_AUTH = 2
export const MESSAGE_QUERY_AWARENESS = 3
/** y-sync sub-types. */
export const SYNC_STEP1 = 0
export const SYNC_STEP2 = 1
export const SYNC_UPDATE = 2
/** An update that changes nothing: what a read-only participant answers the server's Step1 with. */
export const EMPTY_UPDATE = new Uint8Array([0, 0])

/** A typed error of mesh-tools: `code` is stable (mesh_tools.errors), `hint` says what to do. */
export class MeshError extends Error {
  constructor (code, message, hint = null) {
    super(message)
    this.name = 'MeshError'
    this.code = code
    this.hint = hint
  }

  static fromJSON (data) {
    return new MeshError(String(data?.code ?? 'error'), String(data?.message ?? ''), data?.hint ?? null)
  }

  /** The error a close frame's reason `"<code>: <message>"` describes (docs/protocol.md). */
  static fromClose (code, reason) {
    const match = /^([a-z_]+): (.*)$/s.exec(reason ?? '')
    if (match) return new MeshError(match[1], match[2])
    return new MeshError('disconnected', `the connection closed with ${code} ${reason ?? ''}`.trim())
  }
}

/** A binary frame: the channel, then the y-message `write(encoder)` produces. */
export function binaryFrame (channel, write) {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, channel)
  write(encoder)
  return encoding.toUint8Array(encoder)
}

/** Split a binary frame into its channel and a decoder positioned at the y-message. */
export function readBinaryFrame (data) {
  const decoder = decoding.createDecoder(new Uint8Array(data))
  const channel = decoding.readVarUint(decoder)
  return { channel, decoder }
}

/** The name and role a participant token carries (read, not verified: the server verifies it). */
export function tokenIdentity (token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(payload), c => c.charCodeAt(0))))
    const role = (claims.grants ?? []).find(grant => grant?.name === 'role')?.scope
    return { name: String(claims.name ?? claims.sub ?? 'anonymous'), role: typeof role === 'string' ? role : 'user' }
  } catch {
    return { name: 'anonymous', role: 'user' }
  }
}
