// Types of the mesh-tools JavaScript client (docs/clients.md).
import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'

/** A typed error: `code` is one of mesh_tools.errors' codes (unauthorized, forbidden, document_not_found, ...). */
export class MeshError extends Error {
  code: string
  hint: string | null
  constructor (code: string, message: string, hint?: string | null)
  static fromJSON (data: { code?: string, message?: string, hint?: string | null }): MeshError
  /** The error a close frame's reason `"<code>: <message>"` describes. */
  static fromClose (code: number, reason: string): MeshError
}

export interface PresenceUser { name: string, role: string }
/** What every mesh-tools participant publishes as its awareness state. */
export interface PresenceState { user?: PresenceUser, element?: string | null, [field: string]: unknown }
export interface Violation { code: string, message: string, element_id: string | null }

export interface RoomClientOptions {
  /** The server, `ws://HOST:PORT`. */
  url: string
  room: string
  /** A participant token (JWT); it travels as `?token=`. */
  token: string
  /** A WebSocket class: the browser's by default; in Node, `ws`'s default export. */
  WebSocket?: unknown
  /** Milliseconds before a request fails with code `timeout` (default 30000). */
  requestTimeout?: number
  /** Ceiling of the reconnect backoff in milliseconds (default 5000). */
  maxReconnectDelay?: number
}

export class RoomClient {
  constructor (options: RoomClientOptions)
  readonly room: string
  readonly user: PresenceUser
  /** Why the session ended for good (a refused or expired token: codes unauthorized, forbidden). */
  readonly error: MeshError | null
  readonly connected: boolean
  connect (): Promise<void>
  on (event: 'status', listener: (status: { connected: boolean, error: MeshError | null }) => void): () => void
  request (type: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>
  /** Open (by default create) the document at `path`; the same MeshDocument for every open of a path. */
  openDocument (path: string, options?: { create?: boolean }): Promise<MeshDocument>
  listDocuments (): Promise<string[]>
  describe (path: string): Promise<Record<string, unknown>>
  createDocument (path: string, options?: { json?: Record<string, unknown> | null, schema?: Record<string, unknown> | null }): Promise<{ path: string }>
  putSchema (name: string, schema: Record<string, unknown>): Promise<Record<string, never>>
  listSchemas (): Promise<string[]>
  /** Flush and close every document, then the socket. */
  close (): Promise<void>
}

export class MeshDocument {
  readonly path: string
  /** The Yjs document; layout in docs/document-layout.md. */
  readonly doc: Y.Doc
  /** Presence; the local state is a PresenceState. */
  readonly awareness: Awareness
  /** The schema JSON the server holds for this document. */
  readonly schema: Record<string, unknown> | null
  /** True when this participant may only read: local edits are not sent. */
  readonly readOnly: boolean
  readonly epoch: string | null
  readonly rejections: Violation[]
  readonly error: MeshError | null
  readonly isSynced: boolean
  /** Resolves once the first handshake brought everything the server had. */
  readonly synced: Promise<void>
  /** The root element, once synced. */
  readonly root: Y.XmlElement | undefined
  /** The presence of everyone else, by awareness client id. */
  readonly peers: Map<number, PresenceState>
  focus (elementId: string | null): void
  on (event: 'rejected', listener: (violations: Violation[]) => void): () => void
  on (event: 'synced', listener: () => void): () => void
  on (event: 'closed', listener: (error: MeshError) => void): () => void
  /** Resolves once the server durably stored every local edit made before the call (through reconnects). */
  flush (): Promise<void>
  close (): Promise<void>
}

export interface AttributeModel { name: string, type: 'string' | 'number' | 'integer' | 'boolean', enum: unknown[] | null, description: string | null }
export interface ElementModel {
  tag: string
  description: string | null
  attributes: AttributeModel[]
  /** Tags allowed as children; ordered: child i must have tags[i]. */
  children: { name: string, tags: string[], ordered: boolean } | null
  /** Collaborative text (schema format "mesh-text"): the element's one Y.XmlText child, with the marks
   * it allows and each mark's attribute names. */
  text: { name: string, marks: Record<string, string[]> } | null
}
export interface SchemaModel { rootTag: string, elements: Map<string, ElementModel> }

export const FRAGMENT_NAME: 'mesh'
export const ID_ATTRIBUTE: '$id'
export function schemaModel (schema: Record<string, unknown>): SchemaModel
export function elementId (element: Y.XmlElement): string | undefined
export function newElementId (): string
export function tokenIdentity (token: string): PresenceUser
